"""Run one simulation: ``run(config: SimConfig) -> Result``.

Per-layer settings come from the calculator, ``mupsim.transfer(config.base_width,
config.width, config.lr, config.wd, parameterization=..., optimizer=..., alignment=...,
multipliers=..., wd_rule=..., alignment_exponent=...)``, computed once when the config is built
(``config.settings``, :func:`mupsim.sim.settings.settings_for`; with ``io_wd_rule`` the calculator
is given that rule for the embedding and readout); the simulator never re-implements a
scaling rule. Each parameter takes the settings of its
layer class (embedding, hidden, readout, bias, norm_gain; see :mod:`mupsim.sim.layout`):

* effective weight = ``multiplier``·w;
* init: matrices w ~ N(0, init_std²) times a fixed-dimension constant (1/sqrt(k) for the
  embedding's fan-in k with Gaussian inputs, 1 with one-hot tokens, 1/sqrt(r) for W2's fan-in r·n, 1 otherwise); norm gains 1, biases 0;
* ``lr`` and ``wd`` per parameter (wd_mode "coupled": w ← w − lr(u + wd·w); "independent":
  w ← w − lr·u − s(t)·wd·w, see :mod:`mupsim.sim.kernels.optim`).

``optimizer="signsgd"`` is Lion with β1 = β2 = 0 (calculator asked with optimizer="lion");
Muon (Nesterov, coefficient ``momentum``) updates the hidden matrices only; the embedding,
readout and vectors use AdamW with β1, β2 (the calculator's convention for "muon");
``optimizer="muon_all"`` runs Muon on every matrix (embedding, hidden, readout) and AdamW on
vectors. ``muon_convention="rms"`` multiplies each orthogonalised update by
0.2·√max(fan_in, fan_out) (Moonlight), and the calculator is asked with the same convention.

Seeds: teacher ``default_rng([seed, 101])``, student init ``default_rng([seed, 202])``, power
iteration start ``default_rng([seed, 303])``, batches from numba's RNG re-seeded per batch.

Threads: a run pins BLAS to one thread (threadpoolctl) while it computes, so its bits do not
depend on OPENBLAS/OMP/MKL_NUM_THREADS (BLAS splits sums differently per thread count); the
kernels have no parallel loops, so NUMBA_NUM_THREADS never matters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mupsim.sim.config import SimConfig
from mupsim.sim.data import Dataset, make_dataset
from mupsim.sim.kernels import diagnostics as D
from mupsim.sim.kernels.loop import train
from mupsim.sim.kernels.optim import OPT_CODES, SCHED_CODES
from mupsim.sim.layout import B_W2, Layout, activation_names, build_layout
from mupsim.sim.result import MATRIX_METRICS, Result, provenance
from mupsim.sim.settings import SIMULATOR_VERSION, settings_for  # noqa: F401 (re-exported)

assert MATRIX_METRICS == (
    "rms",
    "sigma_max",
    "gain",
    "update_rms",
    "rel_update",
    "angular_update",
    "cos_w_update",
    "eff_lr",
    "stable_rank",
    "effective_rank",
    "sv1",
    "sv2",
    "sv3",
    "sv4",
)
assert D.N_METRICS == len(MATRIX_METRICS) and D.M_SV == MATRIX_METRICS.index("sv1")


def log_schedule(steps: int, n_logs: int) -> np.ndarray:
    """``min(n_logs, steps+1)`` distinct log-spaced steps in [0, steps], incl. 0 and steps.

    Args:
        steps: the number of optimizer steps.
        n_logs: how many steps to log at most.

    Returns:
        The logged steps, an increasing int64 array.

    Examples:
        >>> from mupsim.sim.run import log_schedule
        >>> log_schedule(100, 5).tolist()
        [0, 1, 5, 22, 100]
    """
    want = min(n_logs, steps + 1) - 1  # points in [1, steps]
    if want <= 0:
        return np.array([0], np.int64)
    if want == 1:  # geomspace(1, steps, 1) is [1]: the last step must be the one logged
        return np.array([0, steps], np.int64)
    pts = np.unique(np.round(np.geomspace(1, steps, want)).astype(np.int64))
    m = want
    while pts.size < want:  # rounding merged points at the low end: ask for more
        m += 1
        pts = np.unique(np.round(np.geomspace(1, steps, m)).astype(np.int64))
    if pts.size > want:  # keep the largest, always including 1..: drop from the middle
        keep = np.round(np.linspace(0, pts.size - 1, want)).astype(np.int64)
        pts = pts[np.unique(keep)]
    return np.concatenate([[0], pts]).astype(np.int64)


@dataclass
class Prepared:
    """Everything the compiled loop needs (also used by the NumPy reference and tests)."""

    config: SimConfig
    layout: Layout
    settings: object
    theta0: np.ndarray
    mult: np.ndarray
    p_lr: np.ndarray
    p_wd: np.ndarray
    data: Dataset
    log_steps: np.ndarray
    opt: int
    hyper: np.ndarray
    independent: bool
    sched_code: int
    warmup: int
    decay_steps: int
    pvec0: np.ndarray
    muon_mask: np.ndarray
    p_eps: np.ndarray  # Adam ε per parameter (config.eps everywhere unless eps_rule="derived")
    muon_scale: np.ndarray  # factor on each Muon update (0: not Muon; 1 spectral; 0.2·√max(dims) rms)


def init_params(config: SimConfig, lay: Layout, layers: dict, dtype) -> np.ndarray:
    """The student's initial flat parameter vector (seeded by ``default_rng([seed, 202])``).

    Args:
        config: the run.
        lay: its parameter layout.
        layers: layer class → :class:`mupsim.LayerSettings` (the init std per layer class).
        dtype: the dtype of the answer.

    Returns:
        θ0: matrices N(0, init_std²) times their fixed-dimension constant, norm gains 1,
        biases 0.
    """
    rng = np.random.default_rng([config.seed, 202])
    theta = np.zeros(lay.size, np.float64)
    W2 = set(int(p) for p in lay.blocks[:, B_W2] if p >= 0)
    for p, (_name, cls) in enumerate(zip(lay.names, lay.classes)):
        v = lay.view(theta, p)
        if cls == "norm_gain":
            v[...] = 1.0
        elif cls == "bias":
            v[...] = 0.0
        else:
            c = 1.0
            if cls == "embedding" and config.inputs == "gaussian":
                c = 1.0 / np.sqrt(config.input_dim)  # tokens: one-hot rows, no fan-in factor
            elif p in W2:
                c = 1.0 / np.sqrt(config.ffn_ratio)
            v[...] = rng.standard_normal(v.shape) * (layers[cls].init_std * c)
    return theta.astype(dtype)


def prepare(config: SimConfig) -> Prepared:
    """Everything the compiled loop needs for ``config``: layout, per-parameter values, data.

    Args:
        config: the run.

    Returns:
        Prepared: the inputs of :func:`execute`.

    Raises:
        MupsimError: ``config`` is not a :class:`SimConfig`.
    """
    if not isinstance(config, SimConfig):
        from mupsim.errors import MupsimError

        raise MupsimError(f"run() needs a SimConfig; got {type(config).__name__}")
    settings = config.settings
    layers = settings.layers
    dtype = np.dtype(config.dtype)
    lay = build_layout(config)
    if settings.branch_multiplier is not None:  # depth rule: the calculator sets L^-alpha_L
        lay.farch[0] = settings.branch_multiplier
    mult = np.array([layers[c].multiplier for c in lay.classes], np.float64)
    p_lr = np.array([layers[c].lr for c in lay.classes], np.float64)
    p_wd = np.array([layers[c].wd for c in lay.classes], np.float64)
    theta0 = init_params(config, lay, layers, dtype)
    data = make_dataset(config, dtype)
    if config.optimizer == "signsgd":
        b1, b2 = 0.0, 0.0
    else:
        b1, b2 = config.beta1, config.beta2
    hyper = np.array([config.momentum, b1, b2, config.eps], np.float64)
    p_eps = np.full(len(lay.classes), config.eps, np.float64)
    if config.eps_rule == "derived":  # the calculator's ε per layer (None: that layer has no Adam ε)
        p_eps = np.array(
            [config.eps if layers[c].eps is None else layers[c].eps for c in lay.classes], np.float64
        )
    decay = int(round(config.decay_fraction * config.steps))
    if config.decay_fraction > 0:
        decay = max(decay, 1)
    ncols = int(sum(lay.cols[p] for p in lay.matrices))
    pvec0 = np.random.default_rng([config.seed, 303]).standard_normal(ncols).astype(dtype)
    from mupsim.theory.optimizers import resolve

    th = resolve(config.optimizer)
    muon_classes = th.spectral_layers if th.kind == "spectral" else ()
    muon_mask = np.array([c in muon_classes for c in lay.classes], np.bool_)
    muon_scale = muon_mask.astype(np.float64)
    if config.muon_convention == "rms":  # Moonlight: RMS of 0.2·√max(dims)·O is ≈ 0.2, like AdamW's
        muon_scale *= 0.2 * np.sqrt(np.maximum(lay.rows, lay.cols).astype(np.float64))
    return Prepared(
        config,
        lay,
        settings,
        theta0,
        mult,
        p_lr,
        p_wd,
        data,
        log_schedule(config.steps, config.n_logs),
        OPT_CODES[config.optimizer],
        hyper,
        config.wd_mode == "independent",
        SCHED_CODES[config.schedule],
        config.warmup_steps,
        decay,
        pvec0,
        muon_mask,
        p_eps,
        muon_scale,
    )


def execute(prep: Prepared):
    """Run the compiled loop.

    Args:
        prep: the output of :func:`prepare`.

    Returns:
        (theta, diverged_step or -1, out_loss (2,T), out_mat (N_METRICS,M,T), out_act (A,T)),
        T the logged steps, M the matrices, A the activations.
    """
    lay, cfg, d = prep.layout, prep.config, prep.data
    T = prep.log_steps.size
    M = lay.matrices.size
    A = len(activation_names(lay))
    out_loss = np.full((2, T), np.nan)
    out_mat = np.full((D.N_METRICS, M, T), np.nan)
    out_act = np.full((A, T), np.nan)
    theta = prep.theta0.copy()
    pvec = prep.pvec0.copy()
    div = train(
        theta,
        lay.offsets,
        lay.rows,
        lay.cols,
        prep.muon_scale,
        prep.mult,
        lay.emb,
        lay.readout,
        lay.blocks,
        lay.arch,
        lay.farch,
        lay.matrices,
        prep.p_lr,
        prep.p_wd,
        prep.opt,
        prep.hyper,
        prep.independent,
        prep.sched_code,
        prep.warmup,
        prep.decay_steps,
        cfg.steps,
        cfg.seed,
        cfg.batch_size,
        d.A1,
        d.A2,
        d.xscale,
        d.cdf,
        d.noise,
        d.logit_scale,
        d.X_train,
        d.T_train,
        d.X_test,
        d.T_test,
        prep.log_steps,
        cfg.divergence_bound,
        pvec,
        out_loss,
        out_mat,
        out_act,
        prep.p_eps,
        cfg.rank_metrics,
    )
    return theta, int(div), out_loss, out_mat, out_act


def task_provenance(data: Dataset) -> dict:
    """Per-run values of the task stored with the result's provenance: for the next-token task
    ``teacher_entropy``, the teacher's mean conditional entropy over the held-out contexts
    (nats, :func:`mupsim.sim.data.teacher_entropy`), the floor of the held-out loss; nothing
    for the other tasks (their stored results are unchanged)."""
    if data.teacher_entropy is None:
        return {}
    return {"teacher_entropy": float(data.teacher_entropy)}


def one_blas_thread():
    """Context pinning every loaded BLAS to one thread.

    Covers numpy's BLAS and scipy's that numba's np.dot calls, so results are bit-identical
    whatever the caller's thread settings.

    Returns:
        A ``threadpoolctl`` context manager.
    """
    import scipy.linalg.cython_blas  # noqa: F401  (load numba's BLAS so it is pinned too)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def run(config: SimConfig) -> Result:
    """Train one network as configured and return its logged trajectory.

    The per-layer values come from ``config.settings`` (the calculator); BLAS is pinned to one
    thread while it runs, so the result's bits do not depend on thread settings.

    Args:
        config: the run.

    Returns:
        Result: status "ok" or "diverged", the logged losses and per-matrix metrics, and the
        final singular values.

    Raises:
        MupsimError: ``config`` is not a :class:`SimConfig`.

    Examples:
        >>> from mupsim.sim import SimConfig, run
        >>> c = SimConfig(width=8, base_width=8, input_dim=4, teacher_width=4, steps=5,
        ...               batch_size=8, n_test=16, n_logs=3)
        >>> r = run(c)
        >>> r.status, r.steps.tolist(), r.matrix_names
        ('ok', [0, 1, 5], ['embedding', 'block0.W1', 'block0.W2', 'readout'])
    """
    t0 = time.perf_counter()
    with one_blas_thread():
        prep = prepare(config)
        theta, div, out_loss, out_mat, out_act = execute(prep)
        lay = prep.layout
        spectra = {}
        for p in lay.matrices:
            W = lay.view(theta, int(p)).astype(np.float64)
            name = lay.names[int(p)]
            if div >= 0 or not np.all(np.isfinite(W)):
                spectra[name] = np.full(min(W.shape), np.nan)
            else:
                spectra[name] = np.linalg.svd(W, compute_uv=False)
    wall = time.perf_counter() - t0
    return Result(
        config=config.to_dict(),
        provenance=provenance(
            config,
            settings=prep.settings.to_dict(),
            wall_time_s=wall,
            simulator_version=SIMULATOR_VERSION,
            **task_provenance(prep.data),
        ),
        status="diverged" if div >= 0 else "ok",
        diverged_step=div if div >= 0 else None,
        steps=prep.log_steps.copy(),
        train_loss=out_loss[0],
        test_loss=out_loss[1],
        matrix_names=lay.matrix_names,
        matrix={k: out_mat[i] for i, k in enumerate(MATRIX_METRICS)},
        activation_names=activation_names(lay),
        activation_rms=out_act,
        spectra=spectra,
    )
