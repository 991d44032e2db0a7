"""Weight decay against batch size and training horizon.

Wang & Aitchison 2024: AdamW's weights are an exponential moving average of past updates
with time constant τ_iter = 1/(η λ) steps (lr-scaled decay as in PyTorch AdamW, per-step factor 1 − ηλ). Measured
in epochs — passes over D training samples (tokens) in batches of B — it is

    τ_epoch = τ_iter · B / D = B / (η λ D),

and the optimal τ_epoch stays constant as model and data scale. Keeping it fixed from a
base run (B0, D0, η0λ0) gives the ``tau_epoch`` rule: η_l λ_l = η0 λ0 · (B/B0)·(D0/D),
i.e. in width the timescale rule (w_l = −c_l) times the batch/data factor.

Horizon: the steady state that the steady-state rules assume is reached after a few
relaxation times 1/(2 η_l λ_l) of the mean square (see ``steady_state``); a run of S
steps with S·2η_lλ_l < 3 has not reached it for layer l.
"""

from __future__ import annotations

import sympy as sp

from mupsim.theory.derivation import Derivation

B, D, eta, lam = sp.symbols("B D eta lambda", positive=True)
B0, D0, eta0, lam0 = sp.symbols("B_0 D_0 eta_0 lambda_0", positive=True)
HORIZON_RELAXATIONS = 3  # "a few" relaxation times: e^-3 ≈ 5% of the initial deviation is left


def derive_tau_epoch() -> Derivation:
    """Results: ``tau_epoch`` (expression) and ``lam`` (λ at the target that keeps τ_epoch of the base)."""
    d = Derivation("Weight decay from the epoch timescale (Wang & Aitchison 2024)")
    d.assume(
        "lr-scaled decay (PyTorch AdamW): per-step decay factor 1 − ηλ, so the weights average the updates of the last 1/(ηλ) steps."
    )
    d.assume("An epoch is D/B steps (D training samples or tokens, batch size B).")
    d.assume("The optimal τ_epoch is the same for the base and the target run (Wang & Aitchison 2024).")
    tau_iter = 1 / (eta * lam)
    d.step("Time constant in steps", sp.Eq(sp.Symbol("tau_iter"), tau_iter))
    tau_epoch = sp.simplify(tau_iter * B / D)
    d.result("tau_epoch", tau_epoch, "In epochs: τ_epoch = τ_iter·B/D")
    sol = sp.solve(sp.Eq(tau_epoch, tau_epoch.subs({B: B0, D: D0, eta: eta0, lam: lam0})), lam)[0]
    d.result("lam", sp.simplify(sol), "Keeping the base run's τ_epoch fixes the target λ")
    return d
