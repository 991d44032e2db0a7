"""What every figure's configs share: the model, the sizes, the base hyperparameters and the
run length in relaxation times.

Every figure's ``configs`` takes ``quick`` (True: tiny widths and few steps, a smoke test of the whole
pipeline) and returns configs only; nothing here runs anything. Figures whose design depends on
an earlier measurement take it as an argument (F4 takes α̂ from F3; F5's weight-decay sweep
takes the learning rate found optimal at the proxy width in F5's learning-rate sweep).

Design choices (see also the docstring of each function):

* Model: the normalized residual MLP of the contracts (pre- and post-RMSNorm, so both hidden
  matrices W1, W2 are scale-invariant), teacher-student regression on k = 16 Gaussian inputs,
  online fresh batches, AdamW(β1 = 0.9, β2 = 0.95) coupled, base width n0 = 64; float32, and
  no full-spectrum rank diagnostics (``rank_metrics=False``: an eigendecomposition per matrix
  per log point: 28% of a run's time at n = 512, float64, 60 logs) except in F9, the one
  figure that reads them, and F3's baseline, whose runs are F9's fixed-teacher reference.
  F6 (coordinate check) and F7 (theory vs measurement to a few %) run in float64.
* "Fixed η, λ across widths" for the steady-state exponent α (F3) is realised as μP with the
  *timescale* weight-decay rule, so every width has the same per-step decay η_l·λ_l (the same
  relaxation time and angular update); σ_max is then divided by √(η_l/λ_l) with the per-layer
  values the run used. For a scale-invariant matrix the dynamics of its direction depend on
  η_l·λ_l only, so this equals literally fixed (η, λ) at equal ηλ, without SP's unstable
  readout. Mixing timescales would confound α with the transient (an exploratory run saw
  σ_max change 25% at equal η/λ but 4× different ηλ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mupsim.sim.config import SimConfig
from mupsim.theory import wd_rules


@dataclass(frozen=True)
class Scale:
    """Sizes of a sweep: widths, steps, seeds, number of log points."""

    widths: tuple
    steps: int
    seeds: tuple
    n_logs: int = 60


# Sizes. Target: everything from a cold cache in < 20 min on 2 cores. Measured 2026-11-23 on a fresh
# clone (2-core AMD EPYC): 18 min 8 s for 2,353 runs, numba compilation included; the largest parts
# F5 (1,476 runs, 225 s), F5c (456 runs, 220 s), F9 (211 s), F1+F3 (127 s), F4b (104 s).
# Measured again 2026-12-02 (fresh clone, one run pool for every figure, rank diagnostics in F9
# and F3's baseline): 27 min 31 s, its last 5 minutes on a machine shared with a test run. Since
# then the runs estimated at >= 2 s are committed (mupsim.experiments.archive): 10 min 21 s cold
# on an idle fresh clone (2026-12-02, 2,152 runs computed, 321 read).
# Muon's Newton–Schulz dominates at large n (~190 ms/step at n = 512), so F6/F8 stop at 512/256.
FULL = Scale(widths=(64, 128, 256, 512), steps=1200, seeds=(0, 1), n_logs=60)

QUICK = Scale(widths=(32, 64), steps=60, seeds=(0, 1), n_logs=12)

QUICK_SS_LOGS = 30
"""Log points of QUICK's steady-state runs (the steady-state check needs ≥ 3 in the last half)."""

SMALL_WIDTHS = (64, 128, 256)  # for the many-run sweeps (F3 variants, F5, F8)

BASE = SimConfig(
    model="normalized",
    base_width=64,
    input_dim=16,
    output_dim=1,
    depth=1,
    ffn_ratio=1,
    activation="relu",
    norm="rms",
    norm_position="both",
    task="regression",
    teacher_width=64,
    batch_size=128,
    optimizer="adamw",
    beta1=0.9,
    beta2=0.95,
    wd_mode="coupled",
    schedule="constant",
    parameterization="mup",
    dtype="float32",
    rank_metrics=False,
)

# Base (proxy-width) hyperparameters: η = 2^-7 everywhere; λ = WD for F2's (η, λ) pairs and
# SS_WD for F1/F3/F4 (τ = 64 steps at n0; each run lasts RELAX_RUN of its own τ). The no-wd
# loss-optimal η is ≈ 2^-10 here (F5); this η trades a somewhat higher loss for reaching the
# steady state sooner.
LR = 2.0**-7

WD = 0.5

RELAX_RUN = 6.0
"""Every steady-state run lasts at least this many relaxation times τ_l = 1/(2η_lλ_l) of its
hidden matrices, computed from the per-layer η_l, λ_l the calculator gives that width and rule.
The analysis (:mod:`mupsim.analysis.steady`) refuses runs shorter than 5 τ_l or whose
measured quantity still changes by more than 15% over the last half of training (a fitted line,
beyond 2 standard errors of its scatter)."""

SS_LOGS = 60
"""Log points of the steady-state runs: enough points in the last half of a 3,000-step run for the
steady-state check's fitted line. More cost real time: every log point evaluates the run (and,
with ``rank_metrics``, decomposes every matrix)."""

SS_WD = 1.0
"""Base λ of the width-scaling steady-state figures (F1, F3, F4): with η = 2^-7, τ = 64 steps at
n0; under the constant rule τ grows to 512 steps at n = 512 (3,100-step runs)."""

SS_FLOOR = 600
"""Shortest steady-state run of F1/F3/F4 (≈ 9 relaxation times at n0)."""


def hidden_relax_time(config: SimConfig) -> float:
    """τ = 1/(2 η_l λ_l) of the hidden matrices (steps), from the calculator's per-layer settings
    for this config (+inf without weight decay)."""
    from mupsim.analysis.steady import relax_time
    from mupsim.sim.settings import settings_for

    h = settings_for(config).layers["hidden"]
    return relax_time(h.lr, h.wd)


def relaxed(config: SimConfig, floor: int, n_relax: float = RELAX_RUN, quantum: int = 100) -> SimConfig:
    """``config`` run for max(floor, n_relax·τ) steps (τ of its hidden matrices, rounded up to a
    multiple of ``quantum``): each width and rule gets its own length."""
    tau = hidden_relax_time(config)
    if not math.isfinite(tau):
        return config.replace(steps=floor)
    return config.replace(steps=max(int(floor), int(math.ceil(n_relax * tau / quantum)) * quantum))


WD_RULES = wd_rules.SIM_WD_RULES

F9_LOGS = 40
"""Log points of F9's and F3's baseline runs (600 steps: 5 of them in the last half)."""


def scale(quick: bool) -> Scale:
    """The sizes of a quick (smoke-test) or a full run."""
    return QUICK if quick else FULL


def seeded(configs, seeds):
    """Every config of ``configs`` once per seed (seeds innermost)."""
    return [c.replace(seed=s) for c in configs for s in seeds]


def alignment_kw(alpha_hat):
    """The 'alignment' wd rule's options for a measured α̂ (clipped to the calculator's [½, 1])."""
    return {"wd_rule": "alignment", "alignment_exponent": round(min(1.0, max(0.5, float(alpha_hat))), 3)}


# ---------------------------------------------------------------------------- regimes shared by several figures
RICH_TOKENS = dict(
    inputs="tokens", input_dim=1024, zipf_exponent=1.0, teacher_width_exponent=1.0, output_dim=32
)
"""The rich (language-like) regime: one-hot tokens from a Zipfian vocabulary of V = 1024
(z = 1), a teacher whose width grows with the student's (ρ = 1: 64 at n = 64) and 32 outputs.
Found in tests/test_alpha_theory.py (n = 32–128: stable rank ≈ 11 → 25, ρ̂ ≈ 0.6, α̂ ≈ 0.69);
here run at the F3/F4 setting (batch 128, λ = SS_WD, widths 64–512), unchanged otherwise."""
