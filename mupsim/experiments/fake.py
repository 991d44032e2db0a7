"""A fake runner producing synthetic Results of the right shape (for developing and testing the
figure pipeline without the numba simulator). Its numbers follow the steady-state scalings
(RMS(W) ∝ √(η/λ), relaxation in 1/(2ηλ) steps, σ_max ∝ n^α) with made-up constants; they are
NOT simulation results.

Use: ``python -m mupsim.experiments.make_figures --fake`` (writes to a separate results folder).
"""

from __future__ import annotations

import math

import numpy as np

from mupsim.sim.config import SimConfig
from mupsim.sim.layout import activation_names, build_layout
from mupsim.sim.result import Result, provenance
from mupsim.sim.settings import SIMULATOR_VERSION, settings_for

ALPHA = 0.85


def fake_run(c: SimConfig) -> Result:
    rng = np.random.default_rng([c.seed, c.width, int(1e6 * c.lr), int(1e6 * c.wd)])
    lay = build_layout(c)
    s = settings_for(c)
    T = c.steps
    steps = np.unique(np.concatenate([[0], np.round(np.geomspace(1, T, c.n_logs - 1))])).astype(int)
    t = steps.astype(float)
    n = c.width
    names = lay.matrix_names
    M = {
        k: np.zeros((len(names), t.size))
        for k in (
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
    }
    spectra = {}
    b1 = c.beta1
    for i, name in enumerate(names):
        p = lay.index(name)
        fo, fi = lay.shapes[p]
        ls = s.layers[lay.classes[p]]
        eta, lam = ls.lr, ls.wd
        u = 0.6 * (1 + 0.05 * rng.standard_normal())
        r0 = ls.init_std
        if lam > 0:
            plateau = u * u * eta / (2 * lam) * (1 + b1) / (1 - b1)
            ms = plateau + (r0 * r0 - plateau) * np.exp(-2 * eta * lam * t)
        else:
            ms = r0 * r0 + eta * eta * u * u * t
        rms = np.sqrt(ms) * (1 + 0.01 * rng.standard_normal(t.size))
        sig = rms * math.sqrt(max(fo, fi)) * min(fo, fi) ** (ALPHA - 0.5)
        M["rms"][i] = rms
        M["sigma_max"][i] = sig * ls.multiplier
        M["gain"][i] = rms * math.sqrt(fi) * n**0.1 * ls.multiplier
        M["update_rms"][i] = eta * u  # raw step RMS(Δw), as the runner logs it
        M["rel_update"][i] = eta * u / rms
        M["angular_update"][i] = (
            0.9 * math.sqrt(2 * eta * lam * (1 - b1) / (1 + b1)) if lam else eta * u / rms
        )
        M["cos_w_update"][i] = 0.01 * rng.standard_normal(t.size)
        M["eff_lr"][i] = eta / rms**2
        rho = 0.4 * getattr(c, "teacher_width_exponent", 0.0)
        M["stable_rank"][i] = 2.0 * (n / c.base_width) ** rho * (1 + 0.01 * rng.standard_normal(t.size))
        M["effective_rank"][i] = 2.0 * M["stable_rank"][i]
        for k_, f_ in zip(("sv1", "sv2", "sv3", "sv4"), (1.0, 0.8, 0.6, 0.5)):
            M[k_][i] = sig * f_
        k = min(fo, fi)
        shape = np.sqrt(np.clip(1 - np.arange(k) / k, 1e-3, None)) ** 1.5
        spectra[name] = np.sort(sig[-1] * shape * (1 + 0.01 * rng.standard_normal(k)))[::-1]
    # loss: a bowl in log2(hidden lr) and log2(hidden decay time)
    hid = s.layers["hidden"]
    x = math.log2(hid.lr * n / c.base_width) if c.parameterization == "sp" else math.log2(hid.lr)
    opt = math.log2(1e-2 * (c.base_width / n if c.parameterization == "mup" else 1.0))
    base = 0.05 + 0.02 * (x - opt) ** 2
    if hid.wd > 0:
        base += 0.01 * (math.log2(hid.lr * hid.wd) - math.log2(1e-3)) ** 2 / 4
    loss = base * (1 + 2 * np.exp(-t / 50)) * (1 + 0.02 * rng.standard_normal(t.size))
    status, dstep = "ok", None
    if x - opt > 3.5:
        status = "diverged"
        cut = t.size // 2
        dstep = int(steps[cut])
        loss[cut:] = np.nan
        for k_ in M:
            M[k_][:, cut:] = np.nan
    acts = activation_names(lay)
    grow = (n / c.base_width) ** (0.5 if c.parameterization == "sp" else 0.0)
    A = np.ones((len(acts), t.size)) * (1 + 0.01 * rng.standard_normal((len(acts), 1)))
    A[:, 1:] *= grow
    return Result(
        config=c.to_dict(),
        provenance=provenance(
            c, settings=s.to_dict(), wall_time_s=0.0, fake=True, simulator_version=SIMULATOR_VERSION
        ),
        status=status,
        diverged_step=dstep,
        steps=steps,
        train_loss=loss,
        test_loss=loss * 1.01,
        matrix_names=names,
        matrix=M,
        activation_names=acts,
        activation_rms=A,
        spectra=spectra,
    )
