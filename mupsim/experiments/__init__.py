"""Declarative experiments: figure specs -> cached sweeps -> analysis -> figures.

* :mod:`mupsim.experiments.specs`        one function per figure returning its SimConfigs
* :mod:`mupsim.experiments.analyse`      stored Results -> the numbers behind each figure
* :mod:`mupsim.experiments.figures`      analysed numbers -> matplotlib figure (Agg)
* :mod:`mupsim.experiments.make_figures` CLI running the whole pipeline

Data flows one way: spec -> run (mupsim.sim.sweep, cached by config.key()) -> stored result
-> analysis -> figure. Analysis and figure code never run simulations.
"""
