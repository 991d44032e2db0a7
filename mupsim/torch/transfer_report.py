"""The report of a transfer check, read from its store (:mod:`mupsim.torch.transfer`).

Per rule, with x = log2 of the base-width value (the grid's units):

* the **tuned cell** (η*, λ*): the best (lr, wd) at the base width by the seed-mean log loss;
* **λ drift**: each seed's optimum of log loss vs log2 λ at η* and each width
  (:func:`mupsim.analysis.transfer.seed_optimum`: parabola through the best point and its
  neighbours), the drift per width doubling (mean of the per-seed OLS slopes vs log2 width) and
  its seed-bootstrap interval (:func:`mupsim.analysis.transfer.seed_optimum_drift`); the same for
  every other lr row; **η drift** likewise along log2 η at λ*. A drift of 0 means the rule
  transfers; d means the optimal λ (η) moves by 2^d per doubling. A seed whose best point is at a
  grid edge at any width is left out (its optimum is only a bound); no usable seed = unresolved;
  one usable seed = no interval;
* **relaxation**: the tuned cell's run length in relaxation times of the hidden matrices,
  steps·2·η_l·λ_l at the peak lr (min and max over the hidden groups);
* **diagnose** of the tuned cell's checkpoints (all widths and seeds): α̂ with its interval and
  the implied rule (:func:`mupsim.torch.diagnose`);
* heatmaps of the seed-mean held-out loss over (log2 λ, log2 η), one panel per width
  (``heatmap_<rule>.png``).

Diverged runs count as +inf loss, missing or failed ones as NaN (left out).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mupsim.analysis.transfer import _log_losses, _mean_curve, seed_optimum_drift
from mupsim.errors import MupsimError
from mupsim.torch.transfer import configs, load_run, run_key


def _clean(o):
    """JSON-safe copy: NaN → None, ±inf → "inf"/"-inf", numpy → Python."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, (np.generic,)):
        return _clean(o.item())
    if isinstance(o, float):
        if math.isnan(o):
            return None
        if math.isinf(o):
            return "inf" if o > 0 else "-inf"
    return o


def read_meta(out_dir) -> dict:
    p = Path(out_dir) / "transfer.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        raise MupsimError(
            f"{str(p)!r} is missing or unreadable: run transfer_check into {out_dir} first"
        ) from None


def _alpha_of(meta_alpha):
    if isinstance(meta_alpha, dict):
        return meta_alpha.get("alignment_exponent")
    return meta_alpha


def losses(out_dir, meta: dict, rule: str, alpha=None):
    """(L [W, LR, WD, S] held-out losses (+inf diverged, NaN missing), records [same shape])."""
    W, LR, WD, S = (meta[k] for k in ("widths", "lrs", "wds", "seeds"))
    cfgs = configs(meta["common"], W, LR, WD, S, [rule], alpha)
    L = np.full((len(W), len(LR), len(WD), len(S)), np.nan)
    recs = np.empty(L.shape, dtype=object)
    for idx, c in zip(np.ndindex(L.shape), cfgs):
        r = load_run(out_dir, c)
        recs[idx] = r
        if r is not None:
            L[idx] = math.inf if r["status"] == "diverged" else r["loss"]
    return L, recs


def _best_cell(Lb: np.ndarray) -> tuple[int, int] | None:
    """(i_lr, i_wd) of the lowest seed-mean log loss at one width; None if nothing finite."""
    m = np.array(
        [
            [_mean_curve(_log_losses(Lb[i, j][None, :]))[0] for j in range(Lb.shape[1])]
            for i in range(Lb.shape[0])
        ]
    )
    if not np.isfinite(m).any():
        return None
    return tuple(int(v) for v in np.unravel_index(np.nanargmin(np.where(np.isfinite(m), m, np.nan)), m.shape))


def _drift(widths, x, per_width_losses):
    if len(x) < 3:
        return None
    d = seed_optimum_drift(widths, [x] * len(widths), per_width_losses, n_fit=min(5, len(x)))
    return d.to_dict()


@dataclass
class RuleReport:
    rule: str
    alignment_exponent: float | None
    n_runs: int
    n_stored: int
    n_diverged: int
    tuned: dict | None  # {"lr", "wd", "loss"} at the base width
    lambda_drift: dict | None  # SeedDrift.to_dict() at the tuned lr (x = log2 wd)
    lr_drift: dict | None  # at the tuned wd (x = log2 lr)
    lambda_drift_by_lr: list = field(default_factory=list)
    relaxation: list = field(default_factory=list)  # per width: [min, max] steps·2·η_l·λ_l
    diagnose: dict | None = None
    mean_loss: list = field(default_factory=list)  # [W][LR][WD] seed-mean loss


@dataclass
class TransferReport:
    meta: dict
    rules: list

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return _clean({"meta": self.meta, "rules": [asdict(r) for r in self.rules]})

    def table(self) -> str:
        m = self.meta
        lines = [
            (
                f"transfer check: widths {m['widths']} (base {m['base_width']}), {len(m['lrs'])}×{len(m['wds'])} "
                f"(lr, wd) grid, seeds {m['seeds']}, {m['common']['steps']} steps"
            ),
            "drift per width doubling of each seed's optimum (log2 units; 0 = transfers; 95% seed bootstrap)",
        ]
        for r in self.rules:
            a = f" (alpha {r.alignment_exponent:.2f})" if r.alignment_exponent is not None else ""
            lines.append(f"\n{r.rule}{a}: {r.n_stored}/{r.n_runs} runs stored, {r.n_diverged} diverged")
            if r.tuned is None:
                lines.append("  no finite run at the base width")
                continue
            lines.append(
                f"  tuned at the base width: lr {r.tuned['lr']:.4g}, wd {r.tuned['wd']:.4g} "
                f"(held-out loss {r.tuned['loss']:.4f})"
            )
            lines.append(f"  lambda drift at the tuned lr: {_drift_text(r.lambda_drift)}")
            lines.append(f"  lr drift at the tuned wd:     {_drift_text(r.lr_drift)}")
            rel = ", ".join(
                f"n={w}: {a:.3g}–{b:.3g}" for w, (a, b) in zip(m["widths"], r.relaxation) if a is not None
            )
            if rel:
                lines.append(f"  run length in relaxation times steps·2·η_l·λ_l (hidden): {rel}")
            if r.diagnose is not None:
                d = r.diagnose
                lines.append(
                    f"  diagnose (tuned cell): alpha {_ci_text(d.get('alpha'))}, implied: {d.get('implied_rule')}"
                )
        return "\n".join(lines)


def _ci_text(fit) -> str:
    if not fit:
        return "—"
    lo, hi = fit["ci"]
    if (
        lo is None
        or hi is None
        or not (
            isinstance(lo, float)
            and isinstance(hi, float)
            and math.isfinite(lo)
            and math.isfinite(hi)
            and hi > lo
        )
    ):
        return f"{fit['exponent']:.3f} (no interval)"
    return f"{fit['exponent']:.3f} [{lo:.3f}, {hi:.3f}]"


def _drift_text(d) -> str:
    if d is None:
        return "unresolved (fewer than 3 grid points)"
    if not d["n_used"]:
        return f"unresolved (0 of {d['n_seeds']} seeds bracketed at every width)"
    lo, hi = d["ci"]
    ci = (
        "no interval (one usable seed)"
        if not (isinstance(lo, float) and math.isfinite(lo))
        else f"[{lo:+.2f}, {hi:+.2f}], half-width {(hi - lo) / 2:.2f}"
    )
    return f"{d['per_doubling']:+.3f} {ci} ({d['n_used']}/{d['n_seeds']} seeds)"


def _diagnose_cell(out_dir, recs_cell, widths):
    """diagnose() on the stored checkpoints of one (lr, wd) cell ([W, S] records)."""
    from mupsim.torch.diagnose import diagnose

    paths, ws = [], []
    for k, w in enumerate(widths):
        for r in recs_cell[k]:
            if r is not None and r.get("checkpoint"):
                p = Path(out_dir) / "ckpt" / r["checkpoint"]
                if p.is_file():
                    paths.append(p)
                    ws.append(w)
    if len(set(ws)) < 2:
        return None
    return diagnose(paths, ws, n_boot=1000)


def rule_report(out_dir, meta: dict, rule: str, plots: bool = True) -> RuleReport:
    alpha = _alpha_of(meta.get("alignment_exponent")) if rule == "alignment" else None
    L, recs = losses(out_dir, meta, rule, alpha)
    W, LR, WD = meta["widths"], meta["lrs"], meta["wds"]
    xl, xw = list(np.log2(LR)), list(np.log2(WD))
    b = W.index(meta["base_width"])
    rep = RuleReport(
        rule, alpha, int(L.size), int(np.sum(~np.isnan(L))), int(np.sum(np.isinf(L))), None, None, None
    )
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a cell with no finite seed: NaN
        rep.mean_loss = (
            np.where(np.isinf(L).any(-1), np.inf, np.nanmean(np.where(np.isinf(L), np.nan, L), -1))
            if np.isfinite(L).any()
            else np.full(L.shape[:-1], np.nan)
        )
    cell = _best_cell(L[b])
    if plots:
        heatmap(Path(out_dir) / f"heatmap_{rule}.png", rep.mean_loss, W, LR, WD, rule)
    rep.mean_loss = np.asarray(rep.mean_loss).tolist()
    if cell is None:
        return rep
    i, j = cell
    rep.tuned = {"lr": LR[i], "wd": WD[j], "loss": float(rep.mean_loss[b][i][j])}
    rep.lambda_drift = _drift(W, xw, [L[k, i] for k in range(len(W))])
    rep.lr_drift = _drift(W, xl, [L[k, :, j] for k in range(len(W))])
    rep.lambda_drift_by_lr = [
        {"lr": LR[ii], "drift": _drift(W, xw, [L[k, ii] for k in range(len(W))])} for ii in range(len(LR))
    ]
    steps = meta["common"]["steps"]
    for k in range(len(W)):
        taus = [
            2 * steps * a * c
            for r in recs[k, i, j]
            if r is not None and r.get("hidden")
            for a, c in zip(r["hidden"]["lr"], r["hidden"]["wd"])
        ]
        rep.relaxation.append([min(taus), max(taus)] if taus else [None, None])
    d = _diagnose_cell(out_dir, recs[:, i, j], W)
    if d is not None:
        rep.diagnose = {
            "alpha": None if d.alpha is None else d.alpha.to_dict(),
            "alpha_basis": d.alpha_basis,
            "stable_rank_exponent": None if d.stable_rank_fit is None else d.stable_rank_fit.to_dict(),
            "implied_rule": d.implied_rule,
            "notes": d.notes,
        }
    return rep


def measure_alpha(out_dir, common, widths, lrs, wds, seeds, rule) -> dict:
    """α̂ from diagnose on the tuned cell's checkpoints under ``rule``, rounded to 0.05, in [1/2, 1]."""
    meta = {
        "widths": widths,
        "lrs": lrs,
        "wds": wds,
        "seeds": seeds,
        "common": common,
        "base_width": common["base_width"],
    }
    L, recs = losses(out_dir, meta, rule)
    cell = _best_cell(L[widths.index(common["base_width"])])
    d = None if cell is None else _diagnose_cell(out_dir, recs[:, cell[0], cell[1]], widths)
    if d is None or d.alpha is None or not math.isfinite(d.alpha.exponent):
        raise MupsimError(
            f"cannot measure alpha: no hidden-matrix fit from the checkpoints of rule {rule!r}'s "
            "best cell; give alignment_exponent as a number"
        )
    a = min(1.0, max(0.5, round(d.alpha.exponent * 20) / 20))
    return _clean(
        {
            "alignment_exponent": a,
            "alpha": d.alpha.exponent,
            "alpha_ci": list(d.alpha.ci),
            "measured_on": rule,
            "cell": {"lr": lrs[cell[0]], "wd": wds[cell[1]]},
        }
    )


def heatmap(path, mean_loss, widths, lrs, wds, rule) -> None:
    """Seed-mean held-out loss over (log2 λ, log2 η), one panel per width; × marks each width's best
    cell; diverged cells hatched grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mupsim.torch._figures import save_figure

    M = np.asarray(mean_loss, float)
    fin = M[np.isfinite(M)]
    fig, axes = plt.subplots(
        1, len(widths), figsize=(3.2 * len(widths) + 1, 3.4), squeeze=False, layout="constrained"
    )
    vmin, vmax = (float(fin.min()), float(np.quantile(fin, 0.9))) if fin.size else (0, 1)
    im = None
    for k, (ax, w) in enumerate(zip(axes[0], widths)):
        A = np.where(np.isfinite(M[k]), M[k], np.nan)
        ax.set_facecolor("0.8")
        im = ax.imshow(
            A,
            origin="lower",
            aspect="auto",
            cmap="viridis",
            vmin=vmin,
            vmax=max(vmax, vmin + 1e-9),
            extent=(-0.5, len(wds) - 0.5, -0.5, len(lrs) - 0.5),
        )
        if np.isfinite(A).any():
            i, j = np.unravel_index(np.nanargmin(A), A.shape)
            ax.plot(j, i, "rx", ms=10, mew=2)
        ax.set_xticks(range(len(wds)), [f"{v:.2g}" for v in wds], rotation=60, fontsize=7)
        ax.set_yticks(range(len(lrs)), [f"{v:.2g}" for v in lrs], fontsize=7)
        ax.set(title=f"n = {w}", xlabel="wd λ (base width)")
        if k == 0:
            ax.set_ylabel("lr η (base width)")
    fig.suptitle(f"held-out loss, rule {rule} (seed mean; grey = diverged/missing)", fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    save_figure(fig, path)


def build_report(out_dir, plots: bool = True) -> TransferReport:
    """Read the store, write ``report.json``, ``report.txt`` and the heatmaps; return the report."""
    from mupsim.torch.transfer import _write_json

    meta = read_meta(out_dir)
    rep = TransferReport(meta, [rule_report(out_dir, meta, r, plots) for r in meta["rules"]])
    _write_json(Path(out_dir) / "report.json", rep.to_dict())
    from mupsim.sim.result import _atomic_write

    _atomic_write((Path(out_dir) / "report.txt").resolve(), lambda f: f.write((rep.table() + "\n").encode()))
    return rep


__all__ = ["RuleReport", "TransferReport", "build_report", "heatmap", "losses", "measure_alpha", "run_key"]
