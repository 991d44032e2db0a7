"""Experiment specs: one function per figure returning the list of SimConfig to run.

Every function takes ``quick`` (True: tiny widths and few steps, a smoke test of the whole
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
  readout. Mixing timescales would confound α with the transient (the brief's prototype saw
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
# Muon's Newton–Schulz dominates at large n (~190 ms/step at n = 512), so F6/F8 stop at 512/256.
FULL = Scale(widths=(64, 128, 256, 512), steps=1200, seeds=(0, 1), n_logs=60)
QUICK = Scale(widths=(32, 64), steps=60, seeds=(0, 1), n_logs=12)
QUICK_SS_LOGS = 30
"""Log points of QUICK's steady-state runs (the steady-state check needs ≥ 3 in the last half)."""
SMALL_WIDTHS = (64, 128, 256)   # for the many-run sweeps (F3 variants, F5, F8)

BASE = SimConfig(
    model="normalized", base_width=64, input_dim=16, output_dim=1, depth=1, ffn_ratio=1,
    activation="relu", norm="rms", norm_position="both", task="regression",
    teacher_width=64, batch_size=128, optimizer="adamw", beta1=0.9, beta2=0.95,
    wd_mode="coupled", schedule="constant", parameterization="mup", dtype="float32",
    rank_metrics=False,
)

# Base (proxy-width) hyperparameters: η = 2^-7 everywhere; λ = WD for F2's (η, λ) pairs and
# SS_WD for F1/F3/F4 (τ = 64 steps at n0; each run lasts RELAX_RUN of its own τ). The no-wd
# loss-optimal η is ≈ 2^-10 here (F5); this η trades a somewhat higher loss for reaching the
# steady state sooner.
LR = 2.0 ** -7
WD = 0.5

RELAX_RUN = 6.0
"""Every steady-state run lasts at least this many relaxation times τ_l = 1/(2η_lλ_l) of its
hidden matrices, computed from the per-layer η_l, λ_l the calculator gives that width and rule
(issue 10). The analysis (:mod:`mupsim.analysis.steady`) refuses runs shorter than 5 τ_l or whose
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


def relaxed(config: SimConfig, floor: int, n_relax: float = RELAX_RUN,
            quantum: int = 100) -> SimConfig:
    """``config`` run for max(floor, n_relax·τ) steps (τ of its hidden matrices, rounded up to a
    multiple of ``quantum``): each width and rule gets its own length."""
    tau = hidden_relax_time(config)
    if not math.isfinite(tau):
        return config.replace(steps=floor)
    return config.replace(steps=max(int(floor), int(math.ceil(n_relax * tau / quantum)) * quantum))


F1_WIDTH = 128
F1_STEPS = 1000
"""F2's floor: each (η, λ) pair runs max(F1_STEPS, RELAX_RUN·τ) steps (τ = 16 to 1024 steps)."""
F1_PAIRS = ((1.0, 1.0), (2.0, 2.0), (4.0, 4.0), (0.5, 0.5), (1.0, 2.0), (1.0, 0.5),
            (2.0, 0.5), (0.5, 2.0))
"""(η, λ) multiples of (LR, WD) for F1/F2: four at equal η/λ (different ηλ), two at equal η,
and two at equal ηλ (different η/λ: the clean test of the √(η/λ) scaling, C1)."""

F3_VARIANTS = {
    "teacher_rank": (None, 1, 4),
    "batch_size": (128, 32, 512),
    "label_noise": (0.0, 0.3, 1.0),
}
"""Per panel of F3, the values tried; the first of each is the shared baseline."""
F3_BASELINE_SEEDS = (0, 1, 2)

WD_RULES = wd_rules.SIM_WD_RULES

F5_STEPS = 600
F5_LOGS = 30
"""Log points of F5's runs. Each logged step evaluates the held-out set (and F5b's training set):
with 60 log points that was half of a run's cost. The final loss is the mean over the last 10% of
training or the last 3 log points (steps 402, 491, 600 with 30 points)."""
F5_LR_GRID = tuple(2.0 ** e for e in range(-13, -6))      # 2^-13 .. 2^-7 (optimum ≈ 2^-10)
F5_WD_GRIDS = {
    "constant": tuple(2.0 ** (e / 2) for e in range(2, 11)),     # 2^1 .. 2^5 in steps of 2^(1/2)
    "timescale": tuple(2.0 ** (e / 2) for e in range(2, 11)),
    "alignment": tuple(2.0 ** (e / 2) for e in range(2, 11)),
    "fan2025": tuple(2.0 ** (e / 2) for e in range(13, 22)),     # 2^6.5 .. 2^10.5
}
"""λ grid of F5b per rule, 2^(1/2) apart, placed on each rule's optimum region from a coarse
pass (the previous committed F5b: grid 2^-2 .. 2^9 in steps of 2, seeds 0–2, η = 2^-10). Its
optima of the seed-mean curve, log2 λ at n = 64 / 128 / 256: constant 2.86 / 3.28 / 3.29,
timescale 2.86 / 2.87 / 2.80, alignment 2.86 / 2.83 / 2.70 (95% intervals ≈ ±0.5, up to 4.4),
fan2025 8.18 / 9.0 (grid edge) / 8.55 (edge) — fan2025 decays only the hidden matrices, so its
optimum sits ≈ 2^8.5 (η_l·λ_l ≈ 0.35 per step). The loss minimum is sharp (one step of 2 off the
optimum costs ≈ 5–10% of held-out loss), so each grid spans about ±2 in log2 λ around it."""
F5_WD_DATA = dict(n_train=512, label_noise=1.0, batch_size=64)
"""F5b trains on a finite noisy training set: with fresh batches every step (online) nothing
overfits and the held-out loss only rises with λ, so no λ optimum exists to transfer (measured:
the best λ sat at the low edge of every grid). With 512 samples and label noise 1.0 the
held-out loss has an interior optimum near λ = 4–8 at widths 64 and 256 (exploration run)."""
F5_WD_SEEDS = tuple(range(10))
"""Ten seeds for the λ sweep: the optimum is estimated per seed (a parabola in log2 λ through
the best grid points) and the drift per width doubling bootstrapped over seeds (issue 11: to
resolve it to ±0.15). Besides the optimum, F5's λ panels report the curve shift (how far each
width's loss-vs-λ curve sits from the proxy width's), a second, whole-curve measure."""
F6_LRS = {"sgd": 0.05, "adam": 1e-2, "muon": 2e-2}
F6_STEPS = 10
F6_WIDTHS = (64, 128, 256, 512)
F7_GRID = {"lr": (4e-3, 1.6e-2), "wd": (0.5, 2.0), "beta1": (0.5, 0.9)}
F7_WIDTHS = (64, 256)
F8_STEPS = 1000
F8_LR = 2e-2
F8_WD = 0.1


def scale(quick: bool) -> Scale:
    return QUICK if quick else FULL


def _quick_widths(quick: bool, full: tuple) -> tuple:
    return QUICK.widths if quick else full


def _seeded(configs, seeds):
    return [c.replace(seed=s) for c in configs for s in seeds]


# ---------------------------------------------------------------------------- F1, F2
F1_RULES = ("constant", "fan2025", "alignment")
"""F1 (Fan et al.'s Fig 1 across widths) shows F4's runs under these rules: no runs of its own."""


def f1(quick: bool = False, alpha_hat: float | None = None) -> list[SimConfig]:
    """F1: gain and σ_max vs t/τ across widths under constant / fan2025 / alignment(α̂): the
    runs of F4 under those rules (each width ≥ RELAX_RUN relaxation times)."""
    keep = set(F1_RULES)
    return [c for c in f4(quick, alpha_hat) if c.wd_rule in keep]


def f2(quick: bool = False) -> list[SimConfig]:
    """F2: one width, AdamW at (η, λ) × F1_PAIRS, each pair run for RELAX_RUN of its own
    relaxation times (at least F1_STEPS), μP with constant λ (at one width only the base
    values vary). Final singular spectra and steady gains."""
    sc = scale(quick)
    width = QUICK.widths[-1] if quick else F1_WIDTH
    base = BASE.replace(width=width, n_logs=SS_LOGS if not quick else QUICK_SS_LOGS,
                        wd_rule="constant")
    floor = sc.steps if quick else F1_STEPS
    cfgs = [relaxed(base.replace(lr=LR * a, wd=WD * b), floor) for a, b in F1_PAIRS]
    return _seeded(cfgs, sc.seeds if quick else F2_SEEDS)


F2_SEEDS = (0, 1, 2)


# ---------------------------------------------------------------------------- F3
F3_WIDE = (1024,)
"""F3's and F3b's baseline also run at these widths (not F4's rules: the constant rule's
relaxation time grows ∝ n: a 6,200-step run at n = 1024)."""


def f3(quick: bool = False) -> list[SimConfig]:
    """F3: σ_max vs width at equal per-layer η_l·λ_l (μP + timescale rule), for the baseline
    (widths 64..1024, 3 seeds) and for each variant in F3_VARIANTS (teacher rank, batch size,
    label noise; widths 64..256, 2 seeds, to fit the time budget)."""
    sc = scale(quick)
    base = f3_baseline(quick)[0].replace(seed=0)
    cfgs = f3_baseline(quick) + f3_wide(quick)
    widths = sc.widths if quick else SMALL_WIDTHS
    for field, values in F3_VARIANTS.items():
        vals = values[1:2] if quick else values[1:]
        cfgs += _seeded([base.replace(width=w, **{field: v}) for v in vals for w in widths],
                        sc.seeds)
    return cfgs


def f3_baseline(quick: bool = False) -> list[SimConfig]:
    """The baseline runs of F3 (also F4's timescale rule). They are F9's fixed-teacher reference
    runs, config for config (40 log points, rank diagnostics on): computed once for both."""
    sc = scale(quick)
    base = BASE.replace(n_logs=QUICK_SS_LOGS if quick else F9_LOGS, lr=LR, wd=SS_WD,
                        wd_rule="timescale", rank_metrics=True)
    floor = sc.steps if quick else SS_FLOOR
    return _seeded([relaxed(base.replace(width=w), floor) for w in sc.widths],
                   sc.seeds if quick else F3_BASELINE_SEEDS)


def f3_wide(quick: bool = False) -> list[SimConfig]:
    """F3's baseline at the F3_WIDE widths (none in quick mode)."""
    if quick:
        return []
    base = f3_baseline(False)[0]
    return _seeded([relaxed(base.replace(width=w), SS_FLOOR) for w in F3_WIDE], F3_BASELINE_SEEDS)


# ---------------------------------------------------------------------------- F4
def f4(quick: bool = False, alpha_hat: float | None = None) -> list[SimConfig]:
    """F4: sublayer gain and σ_max vs width under μP's η and each wd rule; the "alignment"
    rule uses ``alpha_hat`` (α̂ from F3, clipped to the calculator's [0.5, 1]). The timescale
    rule's runs are F3's baseline runs (600 steps, 40 log points, shared with F9); the other rules
    log SS_LOGS = 60 points over their longer runs; either gives the steady-state check ≥ 5 points
    in the last half."""
    sc = scale(quick)
    base = BASE.replace(n_logs=QUICK_SS_LOGS if quick else SS_LOGS, lr=LR)
    floor = sc.steps if quick else SS_FLOOR
    cfgs = []
    for rule in WD_RULES:
        if rule == "timescale":
            cfgs += f3_baseline(quick)
            continue
        kw = {"wd_rule": rule}
        if rule == "alignment":
            if alpha_hat is None:
                continue
            kw = _alignment_kw(alpha_hat)
        cfgs += _seeded([relaxed(base.replace(width=w, wd=SS_WD, **kw), floor)
                         for w in sc.widths], sc.seeds if quick else F4_SEEDS)
    return cfgs


F4_SEEDS = F3_BASELINE_SEEDS


# ---------------------------------------------------------------------------- F5
def f5_lr(quick: bool = False) -> list[SimConfig]:
    """F5a: final loss vs η across widths, no weight decay, for SP with one global η (plain
    practice), SP with the calculator's per-layer η exponents (Everett et al.) and μP."""
    sc = scale(quick)
    grid = F5_LR_GRID[::2] if quick else F5_LR_GRID
    widths = sc.widths if quick else SMALL_WIDTHS
    base = BASE.replace(steps=sc.steps if quick else F5_STEPS,
                        n_logs=sc.n_logs if quick else F5_LOGS, wd=0.0, wd_rule=None)
    cfgs = [base.replace(parameterization=p, global_lr=g, width=w, lr=lr)
            for p, g in (("sp", True), ("sp", False), ("mup", False)) for w in widths for lr in grid]
    return _seeded(cfgs, sc.seeds)


def _alignment_kw(alpha_hat):
    """The 'alignment' wd rule's options for a measured α̂ (clipped to the calculator's [½, 1])."""
    return {"wd_rule": "alignment", "alignment_exponent": round(min(1.0, max(0.5, float(alpha_hat))), 3)}


def f5_wd(quick: bool = False, lr: float = 2.0 ** -10, alpha_hat: float | None = None) -> list[SimConfig]:
    """F5b: final held-out loss vs λ across widths under μP's η (``lr``: best at the proxy
    width in F5a) and the constant, fan2025, timescale and (given α̂ from F3) alignment
    weight-decay rules, on a finite noisy training set (``F5_WD_DATA``) so that weight decay
    has an optimum; λ on each rule's grid (``F5_WD_GRIDS``), seeds ``F5_WD_SEEDS``."""
    sc = scale(quick)
    widths = sc.widths if quick else SMALL_WIDTHS
    base = BASE.replace(steps=sc.steps if quick else F5_STEPS,
                        n_logs=sc.n_logs if quick else F5_LOGS, lr=lr, **F5_WD_DATA)
    rules = [{"wd_rule": r} for r in ("constant", "fan2025", "timescale")]
    rules.append(F5_FAN_DECAYED_IO)
    if alpha_hat is not None:
        rules.append(_alignment_kw(alpha_hat))
    cfgs = [base.replace(width=w, wd=wd, **kw) for kw in rules for w in widths
            for wd in (_wd_grid(kw)[::3] if quick else _wd_grid(kw))]
    return _seeded(cfgs, sc.seeds if quick else F5_WD_SEEDS)


F5_FAN_DECAYED_IO = {"wd_rule": "fan2025", "io_wd_rule": "constant"}
"""The ablation of Fan et al.'s rule (issue 11): fan2025 on the hidden matrices, and the embedding
and readout decayed too, at μP's constant λ (fan2025 itself leaves them at λ = 0). Its λ grid
is the constant rule's: the decay of embedding and readout is what has the interior optimum in
F5b's overfitting task."""


def _wd_grid(kw: dict) -> tuple:
    """F5b's λ grid for a rule's options (the ablation uses the constant rule's)."""
    return F5_WD_GRIDS["constant" if kw.get("io_wd_rule") else kw["wd_rule"]]


# ---------------------------------------------------------------------------- F5c (one pass)
ONEPASS = dict(input_dim=256, input_spectrum=1.0, teacher_width=1024, output_dim=32,
               batch_size=64, schedule="cosine", warmup_steps=30)
"""F5c's one-pass regime (the regime of Fan et al. and of language-model pretraining): fresh
batches every step (no example seen twice), a cosine schedule to zero after 30 warm-up steps,
and a task richer than every student — k = 256 Gaussian inputs with covariance eigenvalues
∝ i^-1, a fixed teacher of width 1024 (the same function at every student width, so the losses
of different widths are comparable) and 32 outputs; final loss on 1,024 held-out samples.
Exploration (2026-11-23, seed 0, η = 2^-10, 2^-8, 2^-6): under the timescale rule, which decays all
matrices, the best loss was at λ = 0 (decay helped by ≤ 1% only at the too-large η = 2^-6), while
decaying the hidden matrices alone (fan2025, η = 2^-8, seeds 0–3) has an interior optimum (λ ≈ 2 at
n = 64, ≈ 3 at n = 256, 3–4% below λ = 0; per-seed optima within ±0.1 in log2 λ). So F5c decays the hidden matrices only: runs use
``wd_rule="fan2025"`` (Fan et al.'s own choice of decayed parameters) and the other rules are the
same runs read in their own base-λ coordinates (the rules differ only in the hidden λ's width
exponent once embedding and readout are undecayed)."""
ONEPASS_STEPS = 600
F5C_LR_GRID = tuple(2.0 ** e for e in range(-10, -5))          # 2^-10 .. 2^-6
F5C_HEAT_WD = tuple(2.0 ** e for e in range(-1, 5))             # 2^-1 .. 2^4 (the valley)
F5C_HEAT_SEEDS = (0, 1)
F5C_DECAY_PRODUCTS = tuple(2.0 ** (e / 2) for e in range(-17, -8))
"""F5c's λ sweep as η·λ products (2^-8.5 .. 2^-4.5, 2^(1/2) apart): at the chosen η = 2^-9,
λ = 2^0.5 .. 2^4.5; the per-seed optima under fan2025 sat at 2^2.5 (n = 64) to 2^3.7 (n = 512)."""
F5C_SEEDS = tuple(range(6))
F5C_WIDTHS = (64, 128, 256, 512)
"""Widths of F5c's λ sweep (the heatmap and the ablation run at SMALL_WIDTHS: n = 512 costs
≈ 2.5 s a run on one core)."""
F5C_ABLATION_SEEDS = (0, 1)
F5C_RULES = WD_RULES


def _onepass_base(quick: bool) -> SimConfig:
    sc = scale(quick)
    return BASE.replace(steps=sc.steps if quick else ONEPASS_STEPS, n_logs=6, wd_rule="fan2025",
                        **ONEPASS)


def f5c_heat(quick: bool = False) -> list[SimConfig]:
    """F5c heatmap: final held-out loss over (η, λ) per width (fan2025 rule: hidden matrices
    decayed only), plus λ = 0 at every η, seeds ``F5C_HEAT_SEEDS``."""
    sc = scale(quick)
    widths = sc.widths if quick else SMALL_WIDTHS
    base = _onepass_base(quick)
    lrs = F5C_LR_GRID[::2] if quick else F5C_LR_GRID
    wds = F5C_HEAT_WD[::3] if quick else F5C_HEAT_WD
    cfgs = [base.replace(width=w, lr=lr, wd=wd) for w in widths for lr in lrs for wd in wds]
    cfgs += [base.replace(width=w, lr=lr, wd=0.0, wd_rule=None) for w in widths for lr in lrs]
    return _seeded(cfgs, sc.seeds if quick else F5C_HEAT_SEEDS)


def f5c_wd(quick: bool = False, lr: float = 2.0 ** -8) -> list[SimConfig]:
    """F5c λ sweep at ``lr`` (the heatmap's best η at the proxy width): λ = F5C_DECAY_PRODUCTS/η,
    widths F5C_WIDTHS, seeds ``F5C_SEEDS`` (per-seed optima, bootstrapped drift); and the ablation
    with embedding and readout decayed at μP's constant λ (``io_wd_rule="constant"``), widths
    SMALL_WIDTHS, seeds F5C_ABLATION_SEEDS."""
    sc = scale(quick)
    base = _onepass_base(quick).replace(lr=lr)
    prods = F5C_DECAY_PRODUCTS[::3] if quick else F5C_DECAY_PRODUCTS
    cfgs = _seeded([base.replace(width=w, wd=p / lr) for w in (sc.widths if quick else F5C_WIDTHS)
                    for p in prods], sc.seeds if quick else F5C_SEEDS)
    cfgs += _seeded([base.replace(width=w, wd=p / lr, io_wd_rule="constant")
                     for w in (sc.widths if quick else SMALL_WIDTHS) for p in prods],
                    sc.seeds if quick else F5C_ABLATION_SEEDS)
    return cfgs


def hidden_wd_factors(widths, rules=F5C_RULES, alpha_hat: float | None = None,
                      base: SimConfig | None = None) -> dict:
    """{rule: {width: λ_hidden / λ}}: the hidden matrices' per-layer weight decay at base λ = 1
    under each rule, from the calculator (how F5c reads one sweep in every rule's coordinates).
    The alignment rule is left out without ``alpha_hat``."""
    from mupsim.sim.settings import settings_for
    base = (base or _onepass_base(False)).replace(wd=1.0)
    out = {}
    for rule in rules:
        kw = {"wd_rule": rule}
        if rule == "alignment":
            if alpha_hat is None:
                continue
            kw = _alignment_kw(alpha_hat)
        out[wd_rules.get(kw["wd_rule"]).plot_label(kw.get("alignment_exponent"))] = {
            int(w): float(settings_for(base.replace(width=int(w), **kw)).layers["hidden"].wd)
            for w in widths}
    return out


# ---------------------------------------------------------------------------- F6
def f6(quick: bool = False) -> list[SimConfig]:
    """F6: coordinate check. Residual MLP without normalization, a few steps, SP vs μP,
    for SGD, Adam and Muon; activation RMS at every site vs width."""
    widths = QUICK.widths if quick else F6_WIDTHS
    steps = 3 if quick else F6_STEPS
    base = BASE.replace(norm="none", steps=steps, n_logs=steps + 1, wd=0.0, wd_rule=None,
                        dtype="float64")
    cfgs = [base.replace(optimizer=opt, lr=lr, parameterization=p, width=w)
            for opt, lr in F6_LRS.items() for p in ("sp", "mup") for w in widths]
    seeds = QUICK.seeds[:1] if quick else (0, 1, 2)
    return _seeded(cfgs, seeds)


# ---------------------------------------------------------------------------- F7
def f7(quick: bool = False) -> list[SimConfig]:
    """F7: steady-state theory vs measurement over a grid of (η, λ, β1, n). μP with the
    timescale rule keeps every relaxation time 1/(2η_lλ_l) ≤ 250 steps at every width."""
    sc = scale(quick)
    widths = (QUICK.widths[-1],) if quick else F7_WIDTHS
    base = BASE.replace(steps=sc.steps if quick else 1500, n_logs=sc.n_logs + (0 if quick else 20),
                        wd_rule="timescale", dtype="float64")
    cfgs = [base.replace(lr=lr, wd=wd, beta1=b1, width=w)
            for lr in F7_GRID["lr"] for wd in F7_GRID["wd"] for b1 in F7_GRID["beta1"]
            for w in widths]
    return _seeded(cfgs, sc.seeds[:1])


# ---------------------------------------------------------------------------- F8
def f8(quick: bool = False) -> list[SimConfig]:
    """F8: Muon under μP (matrices Muon, vectors Adam), no weight decay; spectral norms of
    the weights and of the updates through training, across widths (64..256: Muon's
    Newton–Schulz costs 194 ms/step at n = 512)."""
    sc = scale(quick)
    base = BASE.replace(optimizer="muon", lr=F8_LR, wd=0.0, wd_rule=None,
                        steps=sc.steps if quick else F8_STEPS, n_logs=sc.n_logs)
    widths = sc.widths if quick else SMALL_WIDTHS
    # with weight decay: constant λ keeps Muon's hidden η_l·λ_l width-free (η_l is), each width
    # run for RELAX_RUN relaxation times (τ = 250 steps at F8_WD)
    decayed = [relaxed(base.replace(width=w, wd=F8_WD, wd_rule="constant"), base.steps)
               for w in widths]
    return _seeded([base.replace(width=w) for w in widths] + decayed, sc.seeds)


# ---------------------------------------------------------------------------- F9
F9_WIDTHS = (64, 128, 256, 512)
F9_WIDTHS_KEY = (1024,)
"""Also run at these widths: the fixed-teacher reference and the rich centre (≈ 20 s a run on one
core, 8 of them the stable-rank logging). ``--wide`` runs every point at 1024–4096."""
F9_WIDE = (1024, 2048, 4096)
"""With ``wide=True`` (make_figures --wide) every point also runs at these: hours on 2 cores."""
F9_SEEDS = (0, 1, 2)
F9_LOGS = 40
"""Log points of F9's and F3's baseline runs (600 steps: 5 of them in the last half)."""
F9_STEPS = 600
F9_WD = 1.0
"""F9 runs μP + the timescale rule (equal η_l·λ_l at every width, as F3) at (η, λ) = (2^-7, 1):
τ = 64 steps, so F9_STEPS = 600 steps ≈ 9 relaxation times; float32 (the n = 1024 runs dominate)."""
F9_RICH = dict(input_dim=256, input_spectrum=1.0, teacher_width_exponent=1.0)
"""The rich centre: k = 256 inputs with covariance eigenvalues ∝ i^-1 and a teacher whose width
grows with the student's (ρ = 1: 64 at n = 64, 1024 at n = 1024); every knob panel but the
fixed-teacher reference varies one knob about it."""
F9_KNOBS = {
    "input_spectrum": (0.0, 1.0, 2.0),
    "teacher_width_exponent": (0.0, 0.5, 1.0),
    "zipf_exponent": (0.5, 1.0, 1.5),
    "batch_size": (32, 128, 512),
    "output_dim": (1, 16, 128),
}
"""Values per knob (the rich centre's value among them). ``zipf_exponent`` switches the inputs to
one-hot tokens (V = 256, the rich centre's teacher scaling)."""


def f9_panels() -> dict:
    """{knob: [(value, point label), ...]} and, under "reference", the fixed-teacher point."""
    panels = {"reference": [(None, _point_label({}))]}
    for knob, values in F9_KNOBS.items():
        panels[knob] = [(v, _point_label(_knob_kw(knob, v))) for v in values]
    panels[F9_TOKENS_PANEL] = [(RICH_TOKENS["zipf_exponent"], _point_label(RICH_TOKENS))]
    return panels


F9_TOKENS_PANEL = "zipf_exponent (V=1024, out=32)"
"""F9's panel holding the rich token regime of F3b/F4b (RICH_TOKENS) as one point."""


def f9_points() -> dict:
    """{point label: SimConfig overrides} of F9 (each distinct point once), reference first."""
    pts = {_point_label({}): {}}
    for knob, values in F9_KNOBS.items():
        for v in values:
            kw = _knob_kw(knob, v)
            pts.setdefault(_point_label(kw), kw)
    pts.setdefault(_point_label(RICH_TOKENS), dict(RICH_TOKENS))
    return pts


def _knob_kw(knob: str, value) -> dict:
    kw = dict(F9_RICH)
    if knob == "zipf_exponent":
        kw.update(inputs="tokens", input_spectrum=0.0, zipf_exponent=value)
    else:
        kw[knob] = value
    return kw


def _point_label(kw: dict) -> str:
    """Short label of a point: its overrides that differ from BASE's defaults."""
    short = {"input_spectrum": "s", "teacher_width_exponent": "ρ", "zipf_exponent": "z",
             "batch_size": "B", "output_dim": "out", "input_dim": "k", "inputs": "inputs"}
    diff = {k: v for k, v in kw.items() if getattr(BASE, k) != v}
    if kw.get("inputs") == "tokens":
        diff["zipf_exponent"] = kw["zipf_exponent"]
    if not diff:
        return "fixed teacher (F3 task)"
    return ", ".join(f"{short.get(k, k)}={v:g}" if isinstance(v, (int, float)) else f"{v}"
                     for k, v in sorted(diff.items()))


def f9_labels(configs) -> dict:
    """{config key: point label} for F9's configs (the analysis groups runs by it)."""
    out = {}
    for c in configs:
        kw = {k: getattr(c, k) for k in ("input_dim", "input_spectrum", "teacher_width_exponent",
                                         "inputs", "zipf_exponent", "batch_size", "output_dim")}
        out[c.key()] = _point_label(kw)
    return out


def f9(quick: bool = False, wide: bool = False) -> list[SimConfig]:
    """F9: α̂ phase diagram. For every point of :func:`f9_points`, σ_max/√(η_l/λ_l) and the
    stable rank of the hidden matrices across widths 64–512 (the reference and the rich centre
    also 1024; every point 1024–4096 with ``wide``)."""
    sc = scale(quick)
    base = BASE.replace(lr=LR, wd=F9_WD, wd_rule="timescale", rank_metrics=True,
                        n_logs=QUICK_SS_LOGS if quick else F9_LOGS)
    floor = sc.steps if quick else F9_STEPS
    points = f9_points()
    if quick:
        points = dict(list(points.items())[:3])
    key = {_point_label({}), _point_label(F9_RICH)}

    def widths(label):
        if quick:
            return sc.widths
        extra = F9_WIDE if wide else (F9_WIDTHS_KEY if label in key else ())
        return tuple(sorted(set(F9_WIDTHS + extra)))
    cfgs = [relaxed(base.replace(width=w, **kw), floor) for lab, kw in points.items()
            for w in widths(lab)]
    return _seeded(cfgs, sc.seeds if quick else F9_SEEDS)


# ---------------------------------------------------------------------------- F3b, F4b (rich regime)
RICH_TOKENS = dict(inputs="tokens", input_dim=1024, zipf_exponent=1.0,
                   teacher_width_exponent=1.0, output_dim=32)
"""The rich (language-like) regime: one-hot tokens from a Zipfian vocabulary of V = 1024
(z = 1), a teacher whose width grows with the student's (ρ = 1: 64 at n = 64) and 32 outputs.
Found in tests/test_alpha_theory.py (n = 32–128: stable rank ≈ 11 → 25, ρ̂ ≈ 0.6, α̂ ≈ 0.69);
here run at the F3/F4 setting (batch 128, λ = SS_WD, widths 64–512), unchanged otherwise."""
RICH_SEEDS = (0, 1, 2)


def f3_rich(quick: bool = False) -> list[SimConfig]:
    """F3b: F3's baseline (σ_max/√(η_l/λ_l) vs width, μP + timescale rule, widths 64..1024) on
    RICH_TOKENS."""
    return [c.replace(**RICH_TOKENS) for c in f3_baseline(quick) + f3_wide(quick)
            if c.seed in (QUICK.seeds if quick else RICH_SEEDS)]


def f4_rich(quick: bool = False, alpha_rich: float | None = None,
            alpha_fixed: float | None = None) -> list[SimConfig]:
    """F4b: F4 on RICH_TOKENS: constant, fan2025, timescale (F3b's runs), alignment with the
    rich regime's own α̂ (from F3b) and alignment with the fixed-teacher α̂ (from F3) applied out
    of sample."""
    cfgs = [c.replace(**RICH_TOKENS) for c in f4(quick, None)
            if c.wd_rule != "timescale"]
    cfgs += [c for c in f3_rich(quick) if c.width in scale(quick).widths]  # F4's widths
    base = BASE.replace(n_logs=QUICK_SS_LOGS if quick else SS_LOGS, lr=LR, **RICH_TOKENS)
    floor = scale(quick).steps if quick else SS_FLOOR
    kws = {_alignment_kw(a)["alignment_exponent"]: _alignment_kw(a)
           for a in (alpha_rich, alpha_fixed) if a is not None}  # equal after rounding: once
    for kw in kws.values():
        cfgs += _seeded([relaxed(base.replace(width=w, wd=SS_WD, **kw), floor)
                         for w in scale(quick).widths], scale(quick).seeds if quick else RICH_SEEDS)
    return cfgs

