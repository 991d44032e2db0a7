"""AdamW on a single scale-invariant matrix (the kernels' optimizer step, white-noise
gradients orthogonal to W, as for a matrix followed by a normalization).

Steady state ‖W‖² = (1−ηλ)²‖W‖² + η²‖u‖² gives RMS(W)∞ ≈ RMS(u)·√(η/(2λ)) reached with
time constant 1/(2ηλ) — for uncorrelated updates (β1 = 0). With momentum the updates are
correlated across steps: the random walk's step variance is RMS(u)²·(1+β1)/(1−β1), the
factor behind Kosson et al.'s equilibrium angular update √(2ηλ(1−β1)/(1+β1)).
"""

import numpy as np

from mupsim.sim.kernels.optim import OPT_ADAMW, opt_step

ETA, LAM, N = 0.01, 0.1, 32
TAU = 1.0 / (2 * ETA * LAM)  # 500 steps


def _simulate(beta1, steps, init_rms=1.0, seed=0):
    """Returns RMS(W) per step (steps+1) and RMS(u) per step, u the AdamW direction."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(N * N) * init_rms
    g, m, v = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    layout = (np.array([0]), np.array([N]), np.array([N]), np.array([0.0]))  # muon scale 0: not Muon
    lr, wd = np.array([ETA]), np.array([LAM])
    hyper = np.array([0.9, beta1, 0.95, 1e-8])
    rms, urms = np.empty(steps + 1), np.empty(steps)
    rms[0] = np.sqrt(np.mean(w * w))
    for t in range(steps):
        z = rng.standard_normal(w.size)
        nw = np.linalg.norm(w)
        g[:] = (z - (w @ z) / nw**2 * w) / nw  # gradient of a scale-invariant loss
        w_prev = w.copy()
        opt_step(w, g, m, v, *layout, lr, wd, 1.0, t, OPT_ADAMW, hyper, False, np.full(lr.size, hyper[3]))
        u = -((w - w_prev) / ETA + LAM * w_prev)  # coupled: Δw = −η(u + λw)
        urms[t] = np.sqrt(np.mean(u * u))
        rms[t + 1] = np.sqrt(np.mean(w * w))
    return rms, urms


def test_adamw_without_momentum_settles_at_rms_u_times_sqrt_eta_over_2_lambda():
    rms, urms = _simulate(beta1=0.0, steps=int(7 * TAU))
    equilibrium = rms[int(4 * TAU) :].mean()
    predicted = urms[int(2 * TAU) :].mean() * np.sqrt(ETA / (2 * LAM))
    assert abs(equilibrium / predicted - 1) < 0.10


def test_relaxation_time_of_squared_norm_is_one_over_two_eta_lambda():
    rms, _ = _simulate(beta1=0.0, steps=int(6 * TAU), init_rms=1.0)
    r2 = rms**2
    dev = r2 - r2[int(4 * TAU) :].mean()
    t = np.arange(dev.size)
    sel = (t < 2 * TAU) & (dev > 0.05 * dev[0])
    tau_fit = -1.0 / np.polyfit(t[sel], np.log(dev[sel]), 1)[0]
    assert abs(tau_fit / TAU - 1) < 0.10


def test_momentum_raises_equilibrium_by_sqrt_of_one_plus_beta1_over_one_minus_beta1():
    beta1 = 0.9
    rms, urms = _simulate(beta1=beta1, steps=int(7 * TAU))
    equilibrium = rms[int(4 * TAU) :].mean()
    predicted = urms[int(2 * TAU) :].mean() * np.sqrt(ETA / (2 * LAM)) * np.sqrt((1 + beta1) / (1 - beta1))
    assert abs(equilibrium / predicted - 1) < 0.10
