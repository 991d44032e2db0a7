"""Measure the steady-state stable rank of the hidden matrices against memory τ, batch and width,
and store it for the out-of-sample test of :mod:`mupsim.theory.stable_rank`.

The task (``TASK``): Gaussian inputs, k = 256 with covariance eigenvalues ∝ i^−1.2, a fixed
ReLU teacher of width 256 whose first layer has singular values ∝ i^−0.5, 32 outputs; the
residual MLP of the figures (pre- and post-RMSNorm), μP (mup gauge) with AdamW (β = 0.9, 0.95,
lr-scaled decay) under the timescale rule, so every width has the same per-step decay
η_lλ_l and relaxation time τ = 1/(2η_lλ_l) = 64/λ steps at η = 2⁻⁷ (λ the base weight decay);
float32, online data. Every run lasts max(600, 6τ) steps (``mupsim.experiments.common.relaxed``).

Sets (``SETS``), two seeds each, widths 32–256:

* ``calibration``: batch 128, τ = 32, 64, 128 — the model's constants are fitted here only;
* ``memory``: batch 128, τ = 256, 512 — held-out memory lengths;
* ``batch``: batch 32 at τ = 64 and 256, batch 512 at τ = 64 — held-out batch sizes;
* ``wide``: width 512 (> k) at batch 128, τ = 64 and 256, seed 0 — held-out widths where the
  model predicts the stable rank to bend over.

Per (run, hidden matrix) it stores the steady-state stable rank ‖W‖_F²/σ_max² (mean over the last
quarter of the logged points, :func:`mupsim.analysis.steady_state`), the steady-state verdict of
:mod:`mupsim.analysis.steady` on the stable rank and σ_max (≥ 5τ, ≤ 15% change over the last
half), σ_max/√(η_l/λ_l) and RMS(W)/√(η_l/λ_l), with the config, the git commit and the date,
in ``theory/data/stable_rank_check.json``.

Run: ``OPENBLAS_NUM_THREADS=1 python examples/stable_rank_check.py`` (one process; results are
cached in ``.cache/stable_rank_check/``, so a rerun only reads them). The 66 runs took 482 s of
wall time in all on the shared 2-core development machine (``provenance.runs_wall_time_s``; each
row has its run's wall time).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from mupsim.stable_rank import TOL_LOG_SRANK, TOL_RHO

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "theory" / "data" / "stable_rank_check.json"
CACHE = ROOT / ".cache" / "stable_rank_check"

LR = 2.0**-7
TAU0 = 64.0
"""τ at base λ = 1 (η = 2⁻⁷, timescale rule: the same at every width)."""

TASK = dict(
    base_width=64,
    inputs="gaussian",
    input_dim=256,
    input_spectrum=1.2,
    teacher_width=256,
    teacher_decay=0.5,
    output_dim=32,
    batch_size=128,
    lr=LR,
    wd_rule="timescale",
    beta1=0.9,
    beta2=0.95,
    dtype="float32",
    rank_metrics=True,
    n_logs=30,
    n_test=256,
)

WIDTHS = (32, 64, 128, 256)
SEEDS = (0, 1)
SETS = {
    "calibration": [(128, tau) for tau in (32, 64, 128)],
    "memory": [(128, tau) for tau in (256, 512)],
    "batch": [(32, 64), (32, 256), (512, 64)],
}
"""set name → [(batch size, τ in steps)]."""

WIDE = {"wide": [(128, 64), (128, 256)]}
"""Held-out widths beyond the input dimension k = 256, where the model predicts the stable rank to
bend over (α(n) back toward 1): batch 128, τ = 64 and 256, width 512, seed 0 only."""

WIDE_WIDTHS = (512,)
WIDE_SEEDS = (0,)

MATRICES = ("block0.W1", "block0.W2")


def _base():
    from mupsim.experiments.common import BASE

    return BASE.replace(**TASK)


def configs():
    """[(set name, SimConfig)] of every run, in a fixed order."""
    from mupsim.experiments.common import relaxed

    base = _base()
    out = []
    for sets, widths, seeds in ((SETS, WIDTHS, SEEDS), (WIDE, WIDE_WIDTHS, WIDE_SEEDS)):
        for name, points in sets.items():
            for batch, tau in points:
                for n in widths:
                    for seed in seeds:
                        c = base.replace(width=n, batch_size=batch, wd=TAU0 / tau, seed=seed)
                        out.append((name, relaxed(c, 600)))
    return out


def record(set_name, result) -> list[dict]:
    """One row per hidden matrix of a stored run."""
    from mupsim.analysis import layer_settings, steady_state
    from mupsim.analysis.steady import run_steady_check

    c = result.config
    rows = []
    for m in MATRICES:
        ls = layer_settings(result, m)
        scale = math.sqrt(ls["lr"] / ls["wd"])
        checks = {q: run_steady_check(result, q, m) for q in ("stable_rank", "sigma_max")}
        rows.append(
            dict(
                set=set_name,
                key=result.key,
                matrix=m,
                width=c["width"],
                batch=c["batch_size"],
                seed=c["seed"],
                steps=c["steps"],
                wd_base=c["wd"],
                tau=1.0 / (2.0 * ls["lr"] * ls["wd"]),
                lr_layer=ls["lr"],
                wd_layer=ls["wd"],
                status=result.status,
                stable_rank=steady_state(result, "stable_rank", m),
                sigma_over_sqrt=steady_state(result, "sigma_max", m) / scale,
                rms_over_sqrt=steady_state(result, "rms", m) / scale,
                steady=all(ch.ok for ch in checks.values()),
                drift_stable_rank=checks["stable_rank"].drift,
                drift_sigma_max=checks["sigma_max"].drift,
                n_relax=checks["stable_rank"].n_relax,
                test_loss=float(result.test_loss[-1]),
                wall_s=(result.provenance or {}).get("wall_time_s"),
            )
        )
    return rows


def _fit_slope(x, y) -> float:
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(x, y, 1)[0]) if np.unique(x).size >= 2 else float("nan")


def analyse(rows: list[dict]) -> dict:
    """Calibrate (κ, N_*, c_d) per matrix on the steady ``calibration`` rows, then compare every
    (set, batch, τ, width) point's seed-mean stable rank and every (set, batch, τ) point's width
    exponent with the model's prediction."""
    from mupsim import stable_rank as num

    k = TASK["input_dim"]
    out = {
        "tolerance": {"log_srank": TOL_LOG_SRANK, "rho": TOL_RHO},
        "calibration": {},
        "points": [],
        "exponents": [],
    }
    for m in MATRICES:
        cal = [r for r in rows if r["matrix"] == m and r["set"] == "calibration" and r["steady"]]
        fit = num.calibrate(
            [r["width"] for r in cal],
            [r["tau"] for r in cal],
            [r["batch"] for r in cal],
            [k] * len(cal),
            [r["stable_rank"] for r in cal],
        )
        fit["n_records"] = len(cal)
        out["calibration"][m] = fit
        params = {p: fit[p] for p in num.PARAMS}
        groups = sorted({(r["set"], r["batch"], r["tau"]) for r in rows if r["matrix"] == m})
        for set_name, batch, tau in groups:
            sel = [
                r
                for r in rows
                if r["matrix"] == m and (r["set"], r["batch"], r["tau"]) == (set_name, batch, tau)
            ]
            ok = [r for r in sel if r["steady"]]
            widths = sorted({r["width"] for r in ok})
            for n in sorted({r["width"] for r in sel}):
                at = [r["stable_rank"] for r in ok if r["width"] == n]
                meas = float(np.exp(np.mean(np.log(at)))) if at else float("nan")
                pred = float(num.predict_srank(n, tau, batch, k, params))
                out["points"].append(
                    dict(
                        set=set_name,
                        matrix=m,
                        batch=batch,
                        tau=tau,
                        width=n,
                        n_steady=len(at),
                        n_records=sum(r["width"] == n for r in sel),
                        measured=meas,
                        predicted=pred,
                        log_ratio=math.log(pred / meas) if at else float("nan"),
                    )
                )
            rho_hat = _fit_slope([r["width"] for r in ok], [r["stable_rank"] for r in ok])
            alpha_hat = _fit_slope([r["width"] for r in ok], [r["sigma_over_sqrt"] for r in ok])
            rms_exp = _fit_slope([r["width"] for r in ok], [r["rms_over_sqrt"] for r in ok])
            rho_pred = _fit_slope(
                widths, [float(num.predict_srank(n, tau, batch, k, params)) for n in widths]
            )
            out["exponents"].append(
                dict(
                    set=set_name,
                    matrix=m,
                    batch=batch,
                    tau=tau,
                    widths=widths,
                    n_steady=len(ok),
                    n_records=len(sel),
                    rho_hat=rho_hat,
                    rho_predicted=rho_pred,
                    alpha_from_rho_hat=1 - rho_hat / 2,
                    alpha_predicted=1 - rho_pred / 2,
                    alpha_hat_sigma=alpha_hat,
                    rms_exponent=rms_exp,
                )
            )
    # wide: the local width exponent from n = 256 (the set of the same batch and τ) to n = 512
    out["wide_local_exponents"] = []
    for m in MATRICES:
        params = {p: out["calibration"][m][p] for p in num.PARAMS}
        for batch, tau in WIDE["wide"]:
            at = {}
            for n in (256, 512):
                sel = [
                    p
                    for p in out["points"]
                    if p["matrix"] == m
                    and p["batch"] == batch
                    and p["tau"] == tau
                    and p["width"] == n
                    and (p["set"] == "wide") == (n == 512)
                ]
                at[n] = sel[0]["measured"] if sel else float("nan")
            pred = [float(num.predict_srank(n, tau, batch, k, params)) for n in (256, 512)]
            out["wide_local_exponents"].append(
                dict(
                    matrix=m,
                    batch=batch,
                    tau=tau,
                    widths=[256, 512],
                    rho_hat=math.log(at[512] / at[256]) / math.log(2.0),
                    rho_predicted=math.log(pred[1] / pred[0]) / math.log(2.0),
                )
            )
    held = [p for p in out["points"] if p["set"] != "calibration" and math.isfinite(p["log_ratio"])]
    out["held_out_summary"] = {
        m: {
            "max_abs_log_ratio": max(
                (abs(p["log_ratio"]) for p in held if p["matrix"] == m), default=float("nan")
            ),
            "median_log_ratio": float(np.median([p["log_ratio"] for p in held if p["matrix"] == m]))
            if held
            else float("nan"),
            "max_abs_rho_error": max(
                (
                    abs(e["rho_predicted"] - e["rho_hat"])
                    for e in out["exponents"]
                    if e["matrix"] == m and e["set"] != "calibration" and math.isfinite(e["rho_hat"])
                ),
                default=float("nan"),
            ),
        }
        for m in MATRICES
    }
    return out


def main() -> int:
    from mupsim.sim import sweep
    from mupsim.sim.result import provenance

    t0 = time.time()
    todo = configs()
    results = sweep([c for _, c in todo], CACHE, workers=0, progress=True)
    rows = [row for (name, _), r in zip(todo, results) for row in record(name, r)]
    prov = provenance(
        None,
        command="OPENBLAS_NUM_THREADS=1 python examples/stable_rank_check.py",
        script_wall_time_s=round(time.time() - t0, 1),
        run_git_commits=sorted({(r.provenance or {}).get("git_commit") or "unknown" for r in results}),
        runs=len(results),
        runs_wall_time_s=round(sum((r.provenance or {}).get("wall_time_s") or 0.0 for r in results), 1),
        runs_created=sorted({(r.provenance or {}).get("created", "")[:10] for r in results}),
    )
    prov["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    data = {
        "what": "steady-state stable rank of W1, W2 vs memory τ, batch and width (examples/stable_rank_check.py)",
        "task": TASK,
        "sets": {k: [list(p) for p in v] for k, v in {**SETS, **WIDE}.items()},
        "wide_widths": list(WIDE_WIDTHS),
        "wide_seeds": list(WIDE_SEEDS),
        "widths": list(WIDTHS),
        "seeds": list(SEEDS),
        "tau_at_unit_wd": TAU0,
        "base_config": _base().to_dict(),
        "config_note": "each run is base_config with the row's width, batch (batch_size), seed, steps and "
        "wd_base (wd); its key() is the row's key",
        "rows": rows,
        "model": analyse(rows),
        "provenance": prov,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True, default=float) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(rows)} rows from {len(results)} runs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
