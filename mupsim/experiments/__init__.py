"""Declarative experiments: figure configs -> cached sweeps -> analysis -> figures.

* :mod:`mupsim.experiments.figures`        one module per figure (its configs, analysis and
  plot) and their registry :data:`~mupsim.experiments.figures.FIGURES`
* :mod:`mupsim.experiments.figure`         :class:`~mupsim.experiments.figure.Figure`, what a
  figure is to the pipeline
* :mod:`mupsim.experiments.common`         what the figures' configs share (model, sizes, run
  length in relaxation times)
* :mod:`mupsim.experiments.measures`       what their analyses share (steady-state readings, fits)
* :mod:`mupsim.experiments.transfer_panels` optimum-transfer panels of F5 and F5c
* :mod:`mupsim.experiments.style`          the one plotting style
* :mod:`mupsim.experiments.make_figures`   CLI running the whole pipeline
* :mod:`mupsim.experiments.specs`, :mod:`mupsim.experiments.analyse`  every figure's configs /
  analysis under one name (``specs.f5c_heat``, ``analyse.f5c``)

Data flows one way: configs -> run (mupsim.sim.sweep, cached by config.key()) -> stored result
-> analysis -> figure. Analysis and plotting code never run simulations.
"""
