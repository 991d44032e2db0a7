"""Fused optimizer step for the ensemble on CPU (numba, on numpy views of the torch buffers).

Eager PyTorch makes one memory pass (and a temporary) per elementwise op of an AdamW step
on the stacked buffer; this kernel does one pass, with the numba loop's arithmetic in float64
scalars (:func:`mupsim.sim.kernels.optim.opt_step`); the per-element lr/wd/eps tables are stored
in the run's dtype, so a float32 member's rates are rounded to float32 first, where ``opt_step``
keeps them in float64 (its bits differ from the numba loop's there). Used for every
elementwise rule (sgd, adam, adamw, lion) on CPU; Muon's hidden matrices stay in torch.
"""

from __future__ import annotations

import math

from numba import njit

RULES = {"sgd": 0, "adam": 1, "adamw": 2, "lion": 3}


@njit(cache=True, error_model="numpy")
def opt_segment(theta, grad, m, v, lr_el, wd_el, a, z, rule, sched, indep, mu, b1, b2, eps, ibc1, ibc2):
    """Update columns a:z of the (S, P) buffers in place. Per member s: schedule factor
    ``sched[s]`` (0 for a diverged member), ``indep[s]`` decay mode, hyperparameters
    mu/b1/b2[s], Adam's ε per element ``eps[s, i]`` and bias corrections ibc1/ibc2[s] = 1/(1−β^(t+1))."""
    S = theta.shape[0]
    for s in range(S):
        sc = sched[s]
        ind = indep[s]
        mus, b1s, b2s = mu[s], b1[s], b2[s]
        ep = eps[s]
        c1, c2 = 1.0 - b1s, 1.0 - b2s
        i1, i2 = ibc1[s], ibc2[s]
        th = theta[s]
        gr = grad[s]
        mm = m[s]
        vv = v[s]
        lre = lr_el[s]
        wde = wd_el[s]
        if rule == 0:
            for i in range(a, z):
                lr = lre[i] * sc
                keep = 1.0 - wde[i] * (sc if ind else lr)
                mi = mus * mm[i] + gr[i]
                mm[i] = mi
                th[i] = keep * th[i] - lr * mi
        elif rule == 1:
            for i in range(a, z):
                lr = lre[i] * sc
                w = th[i]
                g = gr[i] + wde[i] * w
                mi = b1s * mm[i] + c1 * g
                vi = b2s * vv[i] + c2 * g * g
                mm[i] = mi
                vv[i] = vi
                th[i] = w - (lr * i1) * mi / (math.sqrt(vi * i2) + ep[i])
        elif rule == 2:
            for i in range(a, z):
                lr = lre[i] * sc
                keep = 1.0 - wde[i] * (sc if ind else lr)
                g = gr[i]
                mi = b1s * mm[i] + c1 * g
                vi = b2s * vv[i] + c2 * g * g
                mm[i] = mi
                vv[i] = vi
                th[i] = keep * th[i] - (lr * i1) * mi / (math.sqrt(vi * i2) + ep[i])
        else:
            for i in range(a, z):
                lr = lre[i] * sc
                keep = 1.0 - wde[i] * (sc if ind else lr)
                g = gr[i]
                c = b1s * mm[i] + c1 * g
                u = 1.0 if c > 0.0 else (-1.0 if c < 0.0 else 0.0)
                mm[i] = b2s * mm[i] + c2 * g
                th[i] = keep * th[i] - lr * u
