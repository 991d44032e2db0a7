"""Analysis of stored simulation results: pure functions on arrays and Result objects.

Nothing in this package runs a simulation or a sweep; it only reads what is given.

* :mod:`mupsim.analysis.stats`    power-law fits with a seed bootstrap, percentile intervals
* :mod:`mupsim.analysis.runs`     diverged-run bookkeeping, steady-state means, relaxation time,
                                  per-matrix accessors on Result objects
* :mod:`mupsim.analysis.spectra`  singular-spectrum normalisation and collapse metric
* :mod:`mupsim.analysis.steady`   relaxation times and the steady-state check (run long enough,
                                  measured quantity stopped moving)
* :mod:`mupsim.analysis.transfer` loss-optimal hyperparameter per width and its drift
"""

from mupsim.analysis.runs import (
    RelaxationFit,
    Split,
    is_diverged,
    layer_class,
    layer_settings,
    matrix_series,
    relaxation_time_fit,
    split_diverged,
    steady_state,
    steady_state_mean,
)
from mupsim.analysis.spectra import Collapse, normalized_spectrum, spectral_collapse
from mupsim.analysis.stats import PowerLawFit, percentile_interval, power_law_fit
from mupsim.analysis.steady import (
    SteadyCheck,
    half_drift,
    horizon_mean,
    relax_time,
    run_steady_check,
    steady_check,
)
from mupsim.analysis.transfer import (
    Drift,
    Optimum,
    optimum_drift,
    parabola_vertex,
    transfer_optimum,
)

__all__ = [
    "PowerLawFit",
    "percentile_interval",
    "power_law_fit",
    "RelaxationFit",
    "Split",
    "is_diverged",
    "layer_class",
    "layer_settings",
    "matrix_series",
    "relaxation_time_fit",
    "split_diverged",
    "steady_state_mean",
    "steady_state",
    "SteadyCheck",
    "horizon_mean",
    "relax_time",
    "run_steady_check",
    "steady_check",
    "half_drift",
    "Collapse",
    "normalized_spectrum",
    "spectral_collapse",
    "Drift",
    "Optimum",
    "optimum_drift",
    "parabola_vertex",
    "transfer_optimum",
]
