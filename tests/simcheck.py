"""Measurement helpers for tests/test_theory_vs_simulation.py (theory vs. simulator).

Each helper runs the numba simulator (:func:`mupsim.sim.run.prepare` / ``execute`` or
:func:`mupsim.sim.run`) and turns its output into one number the theory predicts:

* :func:`coord_check_dh` — RMS of the update-induced change of a layer's output,
  Δh_l = m_l·(w_l(T) − w_l(0))·x_l(0), with that layer's learning rate held at the *same*
  value at every width (not width-scaled), all other layers as the calculator says.
  If RMS(Δh_l) ∝ n^s at fixed lr, the lr that keeps Δh_l = Θ(1) is lr ∝ n^(−s): s is the
  measured lr exponent c of the layer.
* :func:`output_change_from_layer` — RMS of the model-output change caused by one
  calculator-scaled step of one layer alone (output stability, TP4's SP argument).
* :func:`loglog_slope` — least-squares slope of log y on log n.
* :func:`direction_rms` — RMS of the AdamW direction u from the logged raw update Δw
  (coupled decay: Δw = −η(u + λw), so ηu = −Δw − ηλw).
* :func:`steady_state_window` — a run whose logs are dense over the last part of training.
"""

from __future__ import annotations

import numpy as np

from mupsim.sim.config import SimConfig
from mupsim.sim.run import execute, prepare

# calculator layer class of each parameter of the deep linear model
LINEAR_LAYERS = {"embedding": "embedding", "hidden": "hidden0", "readout": "readout"}


def _linear_inputs(prep, theta, X):
    """Inputs x_l to every matrix of the deep linear model, for inputs X (rows)."""
    lay, mult = prep.layout, prep.mult
    xs = {"embedding": X}
    h = mult[lay.index("embedding")] * X @ lay.view(theta, "embedding").T
    for l in range(prep.config.depth):
        name = f"hidden{l}"
        xs[name] = h
        h = mult[lay.index(name)] * h @ lay.view(theta, name).T
    xs["readout"] = h
    return xs


def coord_check_dh(
    parameterization,
    optimizer,
    layer,
    width,
    *,
    seed=0,
    steps=1,
    lr=1e-3,
    depth=2,
    base_width=64,
    n_probe=256,
    input_dim=16,
    output_dim=1,
    batch_size=128,
    unscaled=True,
):
    """RMS of Δh = m·Δw·x(0) of ``layer`` ("embedding" | "hidden" | "readout", the latter
    being the model output) after ``steps`` steps of the deep linear model, with the lr of
    that layer fixed to ``lr`` at every width and every other layer scaled by the calculator."""
    cfg = SimConfig(
        model="linear",
        depth=depth,
        width=width,
        base_width=base_width,
        optimizer=optimizer,
        parameterization=parameterization,
        lr=lr,
        input_dim=input_dim,
        output_dim=output_dim,
        batch_size=batch_size,
        momentum=0.0,
        beta1=0.9,
        beta2=0.95,
        steps=steps,
        n_logs=2,
        n_test=n_probe,
        seed=seed,
        dtype="float64",
    )
    prep = prepare(cfg)
    name = LINEAR_LAYERS[layer]
    p = prep.layout.index(name)
    if unscaled:
        prep.p_lr[p] = lr  # not width-scaled
    theta, div, *_ = execute(prep)
    if div >= 0:
        raise RuntimeError(f"coordinate check diverged at step {div}: {cfg}")
    x0 = _linear_inputs(prep, prep.theta0, prep.data.X_test)[name]
    dw = prep.layout.view(theta, name) - prep.layout.view(prep.theta0, name)
    dh = prep.mult[p] * x0 @ dw.T
    return float(np.sqrt(np.mean(dh * dh)))


def loglog_slope(ns, ys):
    """Least-squares slope of log(ys) against log(ns)."""
    return float(np.polyfit(np.log(np.asarray(ns, float)), np.log(np.asarray(ys, float)), 1)[0])


def direction_rms(update_rms, rel_update, cos_w_update, lr, wd):
    """RMS(u) of the optimizer direction from the logged raw step Δw = −lr·(u + wd·w_prev).

    RMS(w_prev) = update_rms / rel_update, and
    lr²·RMS(u)² = RMS(Δw)² + 2·lr·wd·cos·RMS(Δw)·RMS(w_prev) + (lr·wd·RMS(w_prev))²."""
    d = np.asarray(update_rms, float)
    r = d / np.asarray(rel_update, float)
    cos = np.asarray(cos_w_update, float)
    ld = lr * wd
    return np.sqrt(d * d + 2 * ld * cos * d * r + (ld * r) ** 2) / lr


def steady_state_window(cfg: SimConfig, start: int):
    """Run ``cfg`` logging every step from ``start`` to ``cfg.steps`` (dense window for time
    averages). Returns (prep, out_mat) with out_mat[metric, matrix, t] as in execute."""
    prep = prepare(cfg)
    prep.log_steps = np.arange(start, cfg.steps + 1, dtype=np.int64)
    theta, div, out_loss, out_mat, out_act = execute(prep)
    if div >= 0:
        raise RuntimeError(f"run diverged at step {div}: {cfg}")
    return prep, out_mat


def output_change_from_layer(
    parameterization,
    optimizer,
    layer,
    width,
    *,
    seed=0,
    lr=1e-3,
    depth=2,
    base_width=64,
    n_probe=256,
    input_dim=4,
    output_dim=4,
    batch_size=128,
):
    """RMS of the change of the model output caused by one calculator-scaled step of
    ``layer`` alone (all other parameters kept at init), deep linear model."""
    cfg = SimConfig(
        model="linear",
        depth=depth,
        width=width,
        base_width=base_width,
        optimizer=optimizer,
        parameterization=parameterization,
        lr=lr,
        input_dim=input_dim,
        output_dim=output_dim,
        batch_size=batch_size,
        momentum=0.0,
        steps=1,
        n_logs=2,
        n_test=n_probe,
        seed=seed,
    )
    prep = prepare(cfg)
    theta, div, *_ = execute(prep)
    name = LINEAR_LAYERS[layer]
    mixed = prep.theta0.copy()
    prep.layout.view(mixed, name)[...] = prep.layout.view(theta, name)
    X = prep.data.X_test
    lay, mult = prep.layout, prep.mult

    def out(th):
        h = _linear_inputs(prep, th, X)["readout"]
        return mult[lay.index("readout")] * h @ lay.view(th, "readout").T

    dy = out(mixed) - out(prep.theta0)
    return float(np.sqrt(np.mean(dy * dy)))
