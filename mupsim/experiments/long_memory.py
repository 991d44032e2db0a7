"""The long-memory regime (F10): weight-decay memories τ = 1/(2η_lλ_l) of thousands of steps.

Every other figure runs at τ = 64 steps at the base width (η = 2^-7, λ = 1); language models run
at τ of thousands of steps, and the steady-state width exponent α (σ_max ∝ √(η/λ)·n^α) depends on
τ. These runs are too long for ``make figures``' budget, so this module is their spec and their
runner, and F10 (:mod:`mupsim.experiments.figures.f10_long_memory`) only reads the compact file
the runner writes (committed as ``figures/data/f10_long_memory_runs.json``)::

    python -m mupsim.experiments.long_memory [--workers N] [--backend numba|ensemble]
                                             [--results-dir DIR] [--out FILE] [--quick] [--fresh]

(``make long-memory``). Two stages, each one sweep into the usual results cache (stored,
resumable: :func:`mupsim.sim.sweep.sweep`): stage 1 runs the timescale rule at every τ of
:data:`TAUS` (and at :data:`WIDE_WIDTHS` for τ in :data:`WIDE_TAUS`) and the other rules of
:data:`RULES` at :data:`BASE_TAU`; stage 2 runs the alignment rule at the α̂ that F10's analysis
measures on stage 1's timescale runs at BASE_TAU over :data:`WIDTHS`
(:func:`mupsim.experiments.figures.f10_long_memory.alignment_alpha`), so a rerun with the same
stored stage 1 asks for the same stage 2 and reads it from the cache; an α̂ outside the rule's
range :data:`ALIGNMENT_RANGE` gets no stage 2 (the file's ``alignment`` says why). The records
of the runs file already at ``--out`` stand for their runs when its runs were made by the current
simulator version (``--fresh`` ignores them): an extended spec computes only the runs it adds.

Units: τ in optimizer steps at the base width n0 = 64; the base λ of a run with memory τ is
1/(2·LR·τ) (lr-scaled, PyTorch AdamW's coupled decay), and each width's per-layer η_l, λ_l come
from the calculator under the run's rule. Each run lasts :data:`N_RELAX` relaxation times τ_l of
its own hidden matrices (:func:`mupsim.experiments.common.relaxed`), capped at
:data:`MAX_STEPS`; a capped run is marked (``capped``, with its length in τ_l) and judged by the
one steady-state rule like every other (:mod:`mupsim.analysis.steady`: refused if < 5τ_l or
still moving).

The compact file (:func:`document`; format :data:`FORMAT`), JSON, floats rounded to
:data:`DIGITS` significant digits, non-finite values as null:

* ``format``, ``spec`` (the constants below as run), ``provenance`` (git commit, date, machine,
  command, wall time, simulator and mupsim versions, runs computed by this command, the commits
  and simulator versions of the stored runs read), ``alignment`` (the α̂ measured on stage 1 and
  the exponent the alignment runs used, or why there are none);
* ``config_common``: the config fields every run shares; a run's full config is
  ``{**config_common, **run["config"]}`` (its ``SimConfig.key()`` is ``run["key"]``);
* ``runs``: per run ``key``, ``config``, ``rule`` (a label of :data:`RULES`, alignment with its
  exponent), ``tau0`` (τ at n0, steps), ``width``, ``seed``, ``status`` (ok / diverged / error;
  diverged runs are kept and flagged, never fitted), ``diverged_step``, ``error``, ``steps``,
  ``relax_steps`` (τ_l of the hidden matrices), ``n_relax`` (steps/τ_l), ``capped``,
  ``layers`` ({embedding, hidden, readout: {lr, wd, multiplier}}, the per-layer values used),
  ``log_steps``, ``matrices`` ({name: {sigma_max, rms, stable_rank, gain: [value per logged
  step]}} for the hidden matrices, σ_max of the raw parameter w), ``final_test_loss``, ``wall_s``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

from mupsim.errors import MupsimError
from mupsim.experiments.common import (
    BASE,
    LR,
    QUICK_SS_LOGS,
    SS_FLOOR,
    alignment_kw,
    hidden_relax_time,
    relaxed,
)
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- the spec
# SimConfig overrides of common.BASE: K = 256 Gaussian inputs (covariance eigenvalues ∝ i^-1.2), a
# fixed teacher of width 256 with singular values ∝ i^-0.5, 64 outputs, batch 128, rank diagnostics
TASK = dict(inputs="gaussian", input_dim=256, input_spectrum=1.2, teacher_width=256, teacher_decay=0.5, output_dim=64, batch_size=128, rank_metrics=True, dtype="float32")  # fmt: skip
BASE_TAU = 1024  # τ at the base width n0 = 64 (steps) of every rule's runs; base λ = 1/(2·LR·τ)
TAUS = (64, 256, 1024, 4096)  # the τ axis of panel (a), timescale rule: the same τ at every width
WIDTHS = (64, 128, 256, 512)  # widths of every rule and τ
WIDE_WIDTHS = (1024,)  # widths added to panel (a) only: the timescale rule at WIDE_TAUS
WIDE_TAUS = (
    64,
    256,
    1024,
)  # n = 1024 at τ = 4096: 32,768 steps, 4× the 8,200-step runs' 230–270 s on one core
NEXT_TOKEN = dict(task="next_token", inputs="tokens", context=2, output_dim=4096, input_dim=8192, teacher_width=64, teacher_decay=None, input_spectrum=0.0, zipf_exponent=1.0)  # fmt: skip
"""TASK's overrides for a language-like task: next-token prediction over V = 4,096 tokens from the 2
previous ones (i.i.d. Zipf, z = 1), a fixed teacher of width 64 sampling the target from its
softmax (β the simulator's default), softmax cross-entropy (:mod:`mupsim.sim.config`)."""

VARIANTS = {
    "more_inputs": {"overrides": {"input_dim": 1024}, "taus": (256, 1024), "widths": WIDTHS + WIDE_WIDTHS},
    "next_token": {"overrides": NEXT_TOKEN, "taus": (1024,), "widths": WIDTHS},
}
"""Tasks beside TASK, run under the timescale rule at their own τ and widths (panel (e) of F10):
TASK with k = 1,024 inputs, nothing else changed, and the next-token task :data:`NEXT_TOKEN`."""
SEEDS = (0, 1, 2)  # seeds of every (rule, τ, width)
RULES = ("constant", "fan2025", "fan2025_io", "timescale", "alignment")  # rules at BASE_TAU: RULE_KW
N_RELAX = 8.0  # run length in relaxation times τ_l of the hidden matrices (common.relaxed)
MAX_STEPS = 32_768  # cap on a run's steps (= 8τ at τ = 4096); a run it shortens is flagged `capped`
N_LOGS = 48  # logged steps per run (log-spaced: about 4 fall in the last half of a 32,768-step run)

RULE_KW = {
    "constant": {"wd_rule": "constant"},
    "fan2025": {"wd_rule": "fan2025"},  # as served: embedding and readout undecayed
    "fan2025_io": {"wd_rule": "fan2025", "io_wd_rule": "constant"},  # embedding, readout at constant λ
    "timescale": {"wd_rule": "timescale"},
}
"""SimConfig overrides of each rule of :data:`RULES` but ``alignment`` (stage 2:
:func:`mupsim.experiments.common.alignment_kw` at the measured α̂)."""

QUICK_TAUS = (8, 16)  # quick mode (a smoke test of the pipeline, seconds): τ axis
QUICK_BASE_TAU = 16
QUICK_WIDTHS = (32, 64)
QUICK_WIDE_WIDTHS = (128,)
QUICK_WIDE_TAUS = (16,)  # the quick base τ: the rules' and the alignment α̂'s width filter is exercised
QUICK_VARIANTS = {
    "more_inputs": {
        "overrides": {"input_dim": 64},
        "taus": (16,),
        "widths": QUICK_WIDTHS + QUICK_WIDE_WIDTHS,
    },
    "next_token": {
        "overrides": {**NEXT_TOKEN, "output_dim": 8, "input_dim": 16, "teacher_width": 8},
        "taus": (16,),
        "widths": QUICK_WIDTHS,
    },
}
QUICK_SEEDS = (0, 1)
# below 8·16 = 128 steps: every quick run with τ_l = 16 steps (all rules at n = 64) is capped, at 5.5τ_l
QUICK_MAX_STEPS = 88

QUANTUM = 100  # run lengths are rounded up to a multiple of this many steps (quick mode: 4)
FLOOR = SS_FLOOR  # shortest run (600 steps, the other steady-state figures' floor; quick mode: QUANTUM)
DIGITS = 5  # significant digits of the stored floats
FORMAT = "mupsim.long_memory/1"

REPO = Path(__file__).resolve().parents[2]
RUNS_FILE = REPO / "figures" / "data" / "f10_long_memory_runs.json"
"""The committed file F10 reads (written by ``make long-memory``)."""

QUICK_RUNS_FILE = REPO / "figures" / "quick" / "data" / "f10_long_memory_runs_quick.json"
"""Where ``--quick`` writes by default (not committed)."""

STAGES = (1, 2)

ALIGNMENT_RANGE = (0.5, 1.0)
"""The alignment rule's exponents (the calculator's range); a measured α̂ outside it gets no stage 2."""


def spec(quick: bool = False) -> dict:
    """The constants of a full or a quick run, as stored in the file's ``spec``."""
    return {
        "quick": bool(quick),
        "task": dict(TASK),
        "lr": LR,
        "base_width": BASE.base_width,
        "base_tau": QUICK_BASE_TAU if quick else BASE_TAU,
        "taus": list(QUICK_TAUS if quick else TAUS),
        "widths": list(QUICK_WIDTHS if quick else WIDTHS),
        "wide_widths": list(QUICK_WIDE_WIDTHS if quick else WIDE_WIDTHS),
        "wide_taus": list(QUICK_WIDE_TAUS if quick else WIDE_TAUS),
        "variants": {
            name: {"overrides": dict(v["overrides"]), "taus": list(v["taus"]), "widths": list(v["widths"])}
            for name, v in (QUICK_VARIANTS if quick else VARIANTS).items()
        },
        "seeds": list(QUICK_SEEDS if quick else SEEDS),
        "rules": list(RULES),
        "n_relax": N_RELAX,
        "max_steps": QUICK_MAX_STEPS if quick else MAX_STEPS,
        "n_logs": QUICK_SS_LOGS if quick else N_LOGS,
    }


def base_wd(tau: float) -> float:
    """Base λ whose relaxation time at the base width is ``tau`` steps: 1/(2·LR·τ)."""
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):
        raise MupsimError(f"tau must be a positive number of steps; got {tau!r}")
    return 1.0 / (2.0 * LR * tau)


def planned(config: SimConfig, max_steps: int, quantum: int = QUANTUM, floor: int = FLOOR) -> SimConfig:
    """``config`` run for N_RELAX relaxation times τ_l of its hidden matrices (rounded up to a
    multiple of ``quantum``), at least ``floor`` and at most ``max_steps`` steps."""
    c = relaxed(config, floor=floor, n_relax=N_RELAX, quantum=quantum)
    return c.replace(steps=min(c.steps, int(max_steps))) if c.steps > max_steps else c


def is_capped(config: SimConfig) -> bool:
    """Did the cap shorten this run below N_RELAX τ_l?"""
    return config.steps < N_RELAX * hidden_relax_time(config) * (1 - 1e-9)


def rule_kw(rule: str, alpha_hat: float | None = None) -> dict:
    """SimConfig overrides of a rule of :data:`RULES` (``alignment`` needs ``alpha_hat``)."""
    if rule == "alignment":
        if alpha_hat is None or not math.isfinite(float(alpha_hat)):
            raise MupsimError(f"the alignment rule needs a finite alpha_hat; got {alpha_hat!r}")
        return alignment_kw(alpha_hat)
    if rule not in RULE_KW:
        raise MupsimError(f"unknown rule {rule!r}; allowed: {', '.join(RULES)}")
    return dict(RULE_KW[rule])


def configs(stage: int, quick: bool = False, alpha_hat: float | None = None) -> list[SimConfig]:
    """The SimConfigs of a stage: 1, the timescale rule at every τ of TAUS (and at WIDE_WIDTHS
    for τ in WIDE_TAUS), the other non-alignment rules at BASE_TAU, and each task of VARIANTS
    under the timescale rule at its τ and widths; 2, the alignment rule at BASE_TAU with exponent
    ``alpha_hat`` (clipped to [½, 1], rounded to 3 digits; required). Widths innermost but
    seeds, seeds innermost."""
    if stage not in STAGES:
        raise MupsimError(f"stage must be 1 or 2; got {stage!r}")
    s = spec(quick)
    base = BASE.replace(lr=LR, n_logs=s["n_logs"], **TASK)
    quantum = 4 if quick else QUANTUM
    floor = quantum if quick else FLOOR

    def runs(tau, kw, widths=s["widths"]):
        return [
            planned(base.replace(width=w, seed=seed, wd=base_wd(tau), **kw), s["max_steps"], quantum, floor)
            for w in widths
            for seed in s["seeds"]
        ]

    if stage == 2:
        return runs(s["base_tau"], rule_kw("alignment", alpha_hat))
    out = []
    for tau in s["taus"]:
        out += runs(tau, rule_kw("timescale"))
        if tau in s["wide_taus"]:
            out += runs(tau, rule_kw("timescale"), s["wide_widths"])
    for rule in RULES:
        if rule not in ("timescale", "alignment"):
            out += runs(s["base_tau"], rule_kw(rule))
    for v in s["variants"].values():
        for tau in v["taus"]:
            out += runs(tau, {**rule_kw("timescale"), **v["overrides"]}, v["widths"])
    return out


def variant_of(config: dict, spec_: dict) -> str:
    """The task of a run: the name of the spec's variant whose overrides its config carries,
    or ``"task"`` (TASK itself)."""
    for name, v in (spec_.get("variants") or {}).items():
        if all(config.get(k) == val for k, val in v["overrides"].items()):
            return name
    return "task"


def rule_of(config: dict) -> str:
    """The label of a run's rule: a key of RULE_KW, or ``alignment(α̂=0.6)``."""
    r = config.get("wd_rule")
    if r == "alignment":
        return f"alignment(α̂={config.get('alignment_exponent'):g})"
    if r == "fan2025" and config.get("io_wd_rule") == "constant":
        return "fan2025_io"
    return str(r)


def tau0_of(config: dict) -> float:
    """τ at the base width (steps) of a run: 1/(2·lr·wd) of its base (lr, wd)."""
    return 1.0 / (2.0 * float(config["lr"]) * float(config["wd"]))


# ---------------------------------------------------------------------------- the compact file
def rounded(x, digits: int = DIGITS):
    """``x`` (a number or a nested list) rounded to ``digits`` significant digits; non-finite
    values as None (JSON null)."""
    if isinstance(x, (list, tuple)):
        return [rounded(v, digits) for v in x]
    if hasattr(x, "tolist"):
        return rounded(x.tolist(), digits)
    v = float(x)
    if not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


COMPACT_METRICS = ("sigma_max", "rms", "stable_rank", "gain")
"""The per-matrix series kept for each hidden matrix."""

_LAYERS = ("embedding", "hidden", "readout")


def compact(result) -> dict:
    """One stored Result as a run record of the compact file (see the module docstring)."""
    from mupsim.analysis.runs import hidden_matrices
    from mupsim.experiments.measures import final_loss, run_status

    c = dict(result.config)
    cfg = SimConfig.from_dict(c)
    status = run_status(result)
    settings = ((result.provenance or {}).get("settings") or {}).get("layers") or cfg.settings.to_dict()[
        "layers"
    ]
    tau_l = hidden_relax_time(cfg)
    rec = {
        "key": cfg.key(),
        "config": c,
        "rule": rule_of(c),
        "tau0": rounded(tau0_of(c)),
        "width": cfg.width,
        "seed": cfg.seed,
        "status": status,
        "diverged_step": result.diverged_step,
        "steps": cfg.steps,
        "relax_steps": rounded(tau_l),
        "n_relax": rounded(cfg.steps / tau_l) if math.isfinite(tau_l) else None,
        "capped": is_capped(cfg),
        "layers": {
            k: {q: float(settings[k][q]) for q in ("lr", "wd", "multiplier")}
            for k in _LAYERS
            if k in settings
        },
        "wall_s": rounded((result.provenance or {}).get("wall_time_s") or math.nan, 3),
    }
    if result.status == "error":
        rec["error"] = str((result.provenance or {}).get("error", "?")).splitlines()[0][:300]
        return rec
    rec["log_steps"] = [int(s) for s in result.steps]
    mats = hidden_matrices(result)
    idx = {m: list(result.matrix_names).index(m) for m in mats}
    rec["matrices"] = {m: {q: rounded(result.matrix[q][idx[m]]) for q in COMPACT_METRICS} for m in mats}
    rec["final_test_loss"] = rounded(final_loss(result)) if status == "ok" else None
    return rec


def document(records: list, alignment: dict, prov: dict, quick: bool = False) -> dict:
    """The compact file's content for ``records`` (:func:`compact` records of both stages, each
    with its full config); ``prov`` is stored as the file's provenance."""
    runs = [dict(r, config=dict(r["config"])) for r in records]
    common = {}
    if runs:
        first = runs[0]["config"]
        common = {
            k: v for k, v in first.items() if all(k in r["config"] and r["config"][k] == v for r in runs)
        }
    for r in runs:
        r["config"] = {k: v for k, v in r["config"].items() if k not in common}
    return {
        "format": FORMAT,
        "spec": spec(quick),
        "provenance": dict(prov),
        "alignment": alignment,
        "config_common": common,
        "runs": runs,
    }


def run_provenance(results) -> dict:
    """The commits, simulator versions and backends of the stored Results ``results``."""

    def each(field, default=None):
        return {str((r.provenance or {}).get(field, default)) for r in results}

    return {
        "run_git_commits": each("git_commit"),
        "run_simulator_versions": each("simulator_version"),
        "run_backends": each("backend", "numba"),
    }


def same_settings(record: dict, config: SimConfig) -> bool:
    """Does ``record`` (a compact record) hold the per-layer η, λ and multiplier the calculator
    gives ``config`` now? (A record of an older calculator is not ``config``'s run.)"""
    now = config.settings.to_dict()["layers"]
    got = record.get("layers") or {}
    return set(got) == {k for k in _LAYERS if k in now} and all(
        float(got[k][q]) == float(now[k][q]) for k in got for q in ("lr", "wd", "multiplier")
    )


def reusable(path, simulator_version: int) -> tuple[dict, dict, str | None]:
    """(records by key, the file's provenance, why none) of an existing runs file at ``path``:
    its records stand for their runs when it is a runs file of this format whose runs were all
    made by ``simulator_version``; otherwise none, and the reason (None when no file exists).
    A record is what :func:`compact` makes of its run while :data:`FORMAT` holds; the runner also
    checks each record's per-layer settings against the calculator's (:func:`same_settings`)."""
    path = Path(path)
    if not path.is_file():
        return {}, {}, None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return {}, {}, f"{path} is not readable JSON ({e}); every run is read from the cache or run"
    prov = doc.get("provenance", {}) if isinstance(doc, dict) else {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return {}, {}, f"{path} is not a {FORMAT} file; every run is read from the cache or run"
    versions = prov.get("run_simulator_versions") or []
    if versions != [str(simulator_version)]:
        return (
            {},
            {},
            (
                f"{path}'s runs were made by simulator version(s) {versions}, not {simulator_version}; "
                "every run is read from the cache or run"
            ),
        )
    records = {}
    for r in doc.get("runs", []):
        if r.get("status") != "error":  # ok and diverged runs are results; an error is run again
            records[r["key"]] = dict(r, config=full_config(doc, r))
    return records, prov, None


def full_config(doc: dict, run: dict) -> dict:
    """A run's full config dict: ``{**config_common, **run["config"]}``."""
    return {**doc.get("config_common", {}), **run.get("config", {})}


def dumps(doc: dict) -> str:
    """The file's text: header fields indented, one line per run (compact and diff-friendly)."""
    from mupsim.experiments.measures import clean

    doc = clean(doc, strict=True)

    def enc(v, **kw):
        return json.dumps(v, ensure_ascii=False, allow_nan=False, **kw)

    head = [f" {enc(k)}: {enc(v, separators=(',', ':'))}" for k, v in doc.items() if k != "runs"]
    runs = ",\n".join("  " + enc(r, separators=(",", ":")) for r in doc.get("runs", []))
    return "{\n" + ",\n".join(head) + ',\n "runs": [\n' + runs + "\n ]\n}\n"


def write(doc: dict, path) -> Path:
    """Write ``doc`` to ``path`` atomically (the project's writer: temp file, fsync, rename)."""
    from mupsim.sim.result import _atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dumps(doc).encode("utf-8")
    _atomic_write(path, lambda f: f.write(data), "long-memory runs file")
    return path


def machine() -> dict:
    """The machine the command ran on: platform, CPU count and model."""
    cpu = platform.processor() or None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "cpu": cpu}


# ---------------------------------------------------------------------------- the runner
def run(
    out=None,
    results_dir=None,
    workers: int | None = None,
    backend: str = "numba",
    quick: bool = False,
    runner=None,
    progress: bool = True,
    command: str | None = None,
    reuse: bool = True,
) -> dict:
    """Run both stages into ``results_dir`` (the usual results cache by default) and write the
    compact file to ``out`` (RUNS_FILE by default, QUICK_RUNS_FILE in quick mode).
    With ``reuse``, the ok records of the file already at ``out`` stand for their runs when
    that file's runs were made by the current simulator version (:func:`reusable`): a spec that
    adds runs computes only those. Returns the document written. ``runner`` replaces the
    simulator (tests)."""
    from mupsim.sim.files import check_output_file
    from mupsim.sim.result import provenance
    from mupsim.sim.settings import SIMULATOR_VERSION
    from mupsim.sim.sweep import pending, sweep

    out = Path(out) if out is not None else (QUICK_RUNS_FILE if quick else RUNS_FILE)
    results_dir = Path(results_dir) if results_dir is not None else REPO / ".cache" / "results"
    check_output_file(out, "--out")
    t0 = time.perf_counter()
    kept, kept_prov, why_not = reusable(out, SIMULATOR_VERSION) if reuse else ({}, {}, None)
    if why_not and progress:
        print(why_not, file=sys.stderr, flush=True)
    counts = {"computed": 0, "reused": 0}
    fresh = []

    def records_of(cfgs):
        todo = [c for c in cfgs if not (c.key() in kept and same_settings(kept[c.key()], c))]
        counts["reused"] += len(cfgs) - len(todo)
        if todo:
            counts["computed"] += (
                len(pending(todo, results_dir, backend))
                if results_dir.is_dir()
                else len({c.key() for c in todo})
            )
            got = sweep(todo, results_dir, workers=workers, progress=progress, runner=runner, backend=backend)
            fresh.extend(got)
            new = {c.key(): compact(r) for c, r in zip(todo, got)}
        else:
            new = {}
        return [new[c.key()] if c.key() in new else kept[c.key()] for c in cfgs]

    records, alignment = run_stages(records_of, quick)
    now = provenance()
    used = {r["key"] for r in records}
    runs_prov = run_provenance(fresh)
    kept_from = None
    if any(k in used for k in kept):
        runs_prov = {k: v | set(kept_prov.get(k) or []) for k, v in runs_prov.items()}
        kept_from = {
            k: kept_prov.get(k) for k in ("git_commit", "created", "machine", "command", "kept_from")
        }
    prov = {
        "git_commit": now["git_commit"] or os.environ.get("MUPSIM_GIT_COMMIT"),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command or "python -m mupsim.experiments.long_memory" + (" --quick" if quick else ""),
        "backend": backend,
        "workers": workers,
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "runs_computed": counts["computed"],  # by this invocation
        "runs_reused": counts["reused"],  # records kept from the previous runs file at --out
        "runs_wall_time_s_sum": round(sum(float(r.get("wall_s") or 0.0) for r in records), 1),
        "simulator_version": SIMULATOR_VERSION,
        "mupsim_version": now["mupsim_version"],
        "numba_version": now["numba_version"],
        "python_version": now["python_version"],
        **{k: sorted(v) for k, v in runs_prov.items()},
        "kept_from": kept_from,  # the provenance of the file whose records were kept (a chain)
    }
    doc = document(records, alignment, prov, quick)
    write(doc, out)
    return doc


def run_stages(records_of, quick: bool = False) -> tuple[list, dict]:
    """(Run records of both stages, the ``alignment`` entry of the file): ``records_of(configs)``
    returns the :func:`compact` records of ``configs`` (stored, kept or newly run) in order. Stage 2 runs at the α̂
    F10's analysis measures on stage 1 (:func:`~mupsim.experiments.figures.f10_long_memory.
    alignment_alpha`); without a finite α̂, or with one outside :data:`ALIGNMENT_RANGE`, there is
    no stage 2 and the entry says why."""
    from mupsim.experiments.figures import f10_long_memory as F10

    res1 = list(records_of(configs(1, quick)))
    alpha, how = F10.alignment_alpha({"spec": spec(quick), "runs": res1})
    if alpha is None:
        return res1, {**how, "alpha_hat": None, "alignment_exponent": None}
    lo, hi = ALIGNMENT_RANGE
    if not lo <= alpha <= hi:  # clipped, the rule would not be the regime's own
        why = (
            f"alpha_hat = {alpha:.3f} lies outside the alignment rule's range [{lo:g}, {hi:g}]: clipped to "
            f"{min(hi, max(lo, alpha)):g} it would not be this regime's rule (at 0.5 its hidden matrices get "
            "the constant rule's lambda), so it is not run"
        )
        return res1, {**how, "alpha_hat": alpha, "alignment_exponent": None, "why_none": why}
    res2 = list(records_of(configs(2, quick, alpha_hat=alpha)))
    exponent = alignment_kw(alpha)["alignment_exponent"]
    return res1 + res2, {**how, "alpha_hat": alpha, "alignment_exponent": exponent}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m mupsim.experiments.long_memory",
        description="Run F10's long-memory sweep into the results cache and write its compact "
        "runs file (committed; F10 reads only that file).",
    )
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    ap.add_argument("--backend", choices=("numba", "ensemble"), default="numba")
    ap.add_argument("--results-dir", type=Path, default=None, help="results cache (default .cache/results)")
    ap.add_argument(
        "--out", type=Path, default=None, help=f"runs file (default {RUNS_FILE.relative_to(REPO)})"
    )
    ap.add_argument("--quick", action="store_true", help="tiny widths, τ and steps: a smoke test")
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="ignore the records of the runs file already at --out (by default they stand for their "
        "runs when made by the current simulator version, so an extended spec computes only what it adds)",
    )
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
    command = "python -m mupsim.experiments.long_memory" + "".join(
        f" {a}" for a in (sys.argv[1:] if argv is None else argv)
    )
    try:
        doc = run(
            args.out,
            args.results_dir,
            args.workers,
            args.backend,
            args.quick,
            progress=not args.no_progress,
            command=command,
            reuse=not args.fresh,
        )
    except MupsimError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    p = doc["provenance"]
    n_bad = sum(r["status"] != "ok" for r in doc["runs"])
    print(
        f"{len(doc['runs'])} runs ({p['runs_computed']} computed, {p['runs_reused']} kept from the file, "
        f"{n_bad} not ok) in {p['wall_time_s']:.0f} s; "
        f"alignment α̂ {doc['alignment']['alpha_hat']}; -> {args.out or 'the default runs file'}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
