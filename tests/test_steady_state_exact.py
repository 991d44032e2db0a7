"""The exact steady state with momentum (ρβ1 coupling), checked against a direct simulation."""

import numpy as np
import pytest

from mupsim.steady_state import equilibrium_rms


def _simulate(eta, lam, beta1, n=4000, steps=600, seed=0):
    """w ← (1−ηλ)w − ηu, u = EMA_β1 of white-noise directions orthogonal to w (unit RMS)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n) * 0.1
    m = np.zeros(n)
    rms_w, rms_u = [], []
    for t in range(steps):
        g = rng.standard_normal(n)
        g -= (g @ w) / (w @ w) * w
        m = beta1 * m + (1 - beta1) * g
        w = (1 - eta * lam) * w - eta * m
        if t > steps // 2:
            rms_w.append(np.sqrt(np.mean(w * w)))
            rms_u.append(np.sqrt(np.mean(m * m)))
    return np.mean(rms_w), np.mean(rms_u)


@pytest.mark.parametrize("beta1", [0.0, 0.9])
def test_exact_equilibrium_with_momentum_matches_simulation_at_large_eta_lambda(beta1):
    eta, lam = 0.1, 0.5  # ηλ = 0.05: the leading-order formula is 20% off at β1 = 0.9
    w, u = _simulate(eta, lam, beta1)
    exact = equilibrium_rms(u, eta, lam, beta1, exact=True)
    assert abs(w / exact - 1) < 0.03
    if beta1 > 0:
        lead = equilibrium_rms(u, eta, lam, beta1)
        assert abs(w / lead - 1) > 0.1  # the coupling matters here


def test_alignment_wd_rule_states_that_embedding_and_readout_lie_outside_its_assumptions():
    import mupsim

    text = mupsim.exponents("mup", "adamw", wd_rule="alignment", alignment_exponent="3/4").explain()
    assert "readout never is" in text and "extrapolation" in text


def test_steady_state_derivation_states_the_assumption_it_uses():
    from mupsim.theory.steady_state import derive_equilibrium

    text = "\n".join(derive_equilibrium().assumptions)
    assert "orthogonal to w and i.i.d. in time" in text and "u ⟂ w" not in text


def test_equilibrium_rms_refuses_an_update_rms_that_does_not_broadcast_with_lr():
    import pytest

    from mupsim import steady_state as ss
    from mupsim.errors import MupsimError

    with pytest.raises(MupsimError, match=r"update_rms, lr, wd must have broadcastable shapes"):
        ss.equilibrium_rms([], [1e-3, 1e-3], 0.5)
