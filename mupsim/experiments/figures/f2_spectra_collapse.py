"""F2: final singular spectra at one width for eight (η, λ) pairs, raw and divided by
√(η_l/λ_l) (claim C1: in steady state the spectrum scales as √(η/λ) with an invariant shape),
and the steady sublayer gain per pair.
"""

from __future__ import annotations

import math
from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mupsim.analysis import (
    layer_settings,
    spectral_collapse,
    steady_state,
)
from mupsim.analysis.runs import run_record
from mupsim.experiments.common import (
    BASE,
    LR,
    QUICK,
    QUICK_SS_LOGS,
    SS_LOGS,
    WD,
    relaxed,
    scale,
    seeded,
)
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.measures import (
    NAN,
    SS_FRACTION,
    clean,
    excluded_rows,
    fit_dict,
    fmt_ci,
    open_figure,
    refusal_note,
    steady_fields,
)
from mupsim.experiments.style import apply_style, fit_label, footer, new_figure, styled
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- configs
F1_WIDTH = 128

F1_STEPS = 1000
"""F2's floor: each (η, λ) pair runs max(F1_STEPS, RELAX_RUN·τ) steps (τ = 16 to 1024 steps)."""

F1_PAIRS = ((1.0, 1.0), (2.0, 2.0), (4.0, 4.0), (0.5, 0.5), (1.0, 2.0), (1.0, 0.5), (2.0, 0.5), (0.5, 2.0))
"""(η, λ) multiples of (LR, WD) for F1/F2: four at equal η/λ (different ηλ), two at equal η,
and two at equal ηλ (different η/λ: the clean test of the √(η/λ) scaling, C1)."""

F2_SEEDS = (0, 1, 2)


def configs(quick: bool = False) -> list[SimConfig]:
    """F2: one width, AdamW at (η, λ) × F1_PAIRS, each pair run for RELAX_RUN of its own
    relaxation times (at least F1_STEPS), μP with constant λ (at one width only the base
    values vary). Final singular spectra and steady gains."""
    sc = scale(quick)
    width = QUICK.widths[-1] if quick else F1_WIDTH
    base = BASE.replace(width=width, n_logs=SS_LOGS if not quick else QUICK_SS_LOGS, wd_rule="constant")
    floor = sc.steps if quick else F1_STEPS
    cfgs = [relaxed(base.replace(lr=LR * a, wd=WD * b), floor) for a, b in F1_PAIRS]
    return seeded(cfgs, sc.seeds if quick else F2_SEEDS)


# ---------------------------------------------------------------------------- analysis
def pair_label(lr_mult: float, wd_mult: float) -> str:
    def m(x):
        return "" if x == 1 else ("/2" if x == 0.5 else f"{x:g}·")

    a = "η" if lr_mult == 1 else (f"η{m(lr_mult)}" if lr_mult < 1 else f"{m(lr_mult)}η")
    b = "λ" if wd_mult == 1 else (f"λ{m(wd_mult)}" if wd_mult < 1 else f"{m(wd_mult)}λ")
    return f"({a}, {b})"


def _pairs(results, lr0, wd0):
    groups = defaultdict(list)
    for r in results:
        key = (round(r.config["lr"] / lr0, 6), round(r.config["wd"] / wd0, 6))
        groups[key].append(r)
    return groups


def _max_over_min(values) -> float:
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0], float)
    return float(v.max() / v.min()) if v.size >= 2 else NAN


def analyse(results, lr0: float, wd0: float) -> dict:
    """F2: final singular spectra of F1's runs, raw and divided by √(η_l/λ_l)."""
    split, out, mats = open_figure(
        "f2_spectra_collapse",
        "Final singular spectra, raw and divided by √(η/λ)",
        "C1: in steady state the spectrum scales as √(η/λ) with an invariant shape",
        results,
    )
    steady_rows = []
    refused = set()
    for r in split.kept:
        for m in mats:
            chk = steady_fields(r, m, ("gain", "sigma_max"))
            ls = layer_settings(r, m)
            steady_rows.append(
                run_record(
                    r,
                    matrix=m,
                    pair=pair_label(round(r.config["lr"] / lr0, 6), round(r.config["wd"] / wd0, 6)),
                    status="ok" if chk["steady"] else "not_steady",
                    gain_ss=steady_state(r, "gain", m, SS_FRACTION),
                    sigma_over_sqrt=steady_state(r, "sigma_max", m, SS_FRACTION)
                    / math.sqrt(ls["lr"] / ls["wd"]),
                    eta_over_lambda=ls["lr"] / ls["wd"],
                    decay_per_step=ls["lr"] * ls["wd"],
                    steps=r.config["steps"],
                    **chk,
                )
            )
            if not chk["steady"]:
                refused.add(id(r))
    groups = _pairs([r for r in split.kept if id(r) not in refused], lr0, wd0)
    series, rows, summary = {}, [], {}
    for m in mats:
        spectra, scales, labels, mults = [], [], [], []
        for (a, b), runs in sorted(groups.items()):
            S = np.vstack([np.sort(r.spectra[m])[::-1] for r in runs])
            s = np.exp(np.log(np.clip(S, 1e-300, None)).mean(0))  # geometric mean over seeds
            ls = layer_settings(runs[0], m)
            scale = math.sqrt(ls["lr"] / ls["wd"])
            spectra.append(s)
            scales.append(scale)
            labels.append(pair_label(a, b))
            mults.append((a, b))
            for k, v in enumerate(s):
                rows.append(
                    {
                        "matrix": m,
                        "pair": pair_label(a, b),
                        "lr_mult": a,
                        "wd_mult": b,
                        "index": k,
                        "sigma": float(v),
                        "sigma_normalized": float(v / scale),
                        "sqrt_lr_over_wd": scale,
                        "n_seeds": len(runs),
                    }
                )
        if len(spectra) < 2:
            continue
        raw = spectral_collapse(spectra)
        norm = spectral_collapse(spectra, scales)
        eq = [i for i, (a, b) in enumerate(mults) if a == b]
        eq_eta = [i for i, (a, b) in enumerate(mults) if a == 1]
        eq_decay = [i for i, (a, b) in enumerate(mults) if abs(a * b - 1) < 1e-9]
        sub = {}
        if len(eq_decay) >= 2:
            sub["equal_decay_pairs"] = {
                "raw": spectral_collapse([spectra[i] for i in eq_decay]).to_dict(),
                "normalized": spectral_collapse(
                    [spectra[i] for i in eq_decay], [scales[i] for i in eq_decay]
                ).to_dict(),
                "pairs": [labels[i] for i in eq_decay],
            }
        if len(eq) >= 2:
            sub["equal_ratio_pairs"] = spectral_collapse(
                [spectra[i] for i in eq], [scales[i] for i in eq]
            ).to_dict()
        if len(eq_eta) >= 2:
            sub["equal_eta_pairs"] = spectral_collapse(
                [spectra[i] for i in eq_eta], [scales[i] for i in eq_eta]
            ).to_dict()
        # how the normalized σ_max trends with η/λ at equal ηλ (C1 predicts exponent 0)
        eq_rows = [row for row in steady_rows if row["matrix"] == m and row["status"] == "ok"]
        dps = {}
        for row in eq_rows:
            dps.setdefault(round(math.log2(row["decay_per_step"]), 6), []).append(row)
        ref_decay = max(dps, key=lambda k: len({r_["pair"] for r_ in dps[k]})) if dps else None
        trend = {}
        if ref_decay is not None and len({r_["pair"] for r_ in dps[ref_decay]}) >= 2:
            pts = dps[ref_decay]
            trend = fit_dict(
                [r_["eta_over_lambda"] for r_ in pts], [r_["sigma_over_sqrt"] for r_ in pts], n_boot=1000
            )
            trend["pairs"] = sorted({r_["pair"] for r_ in pts})
        top_norm = [sp[0] / sc for sp, sc in zip(spectra, scales)]
        summary[m] = {
            "raw": raw.to_dict(),
            "normalized": norm.to_dict(),
            **sub,
            "sigma_max_normalized_max_over_min": float(max(top_norm) / min(top_norm)),
            "trend_vs_eta_over_lambda_at_equal_decay": trend,
        }
        series[m] = {lab: {"sigma": s.tolist(), "scale": sc} for lab, s, sc in zip(labels, spectra, scales)}
    # steady sublayer gain per pair (was F1): not a function of η/λ alone
    gains = defaultdict(dict)
    for row in steady_rows:
        if row["status"] == "ok":
            gains[row["matrix"]].setdefault(row["pair"], []).append(row["gain_ss"])
    mult = {pair_label(a, b): (a, b) for (a, b) in _pairs(split.kept, lr0, wd0)}
    gain_summary = {}
    for m, d in gains.items():
        g = {p: float(np.mean(v)) for p, v in d.items()}
        eq = [v for p, v in g.items() if mult[p][0] == mult[p][1]]
        gain_summary[m] = {
            "steady_gain": g,
            "max_over_min_equal_ratio": _max_over_min(eq),
            "max_over_min_all": _max_over_min(list(g.values())),
        }
    summary["steady_gain"] = gain_summary
    summary["excluded_not_steady"] = excluded_rows(steady_rows)
    summary["rel_dev_definition"] = (
        "max_rel_dev = max over spectra and indices k (σ_k ≥ 5% σ_1) of |σ_k / geometric mean "
        "over spectra − 1|; max_over_min = largest / smallest value across spectra"
    )
    out.update(rows=rows + steady_rows, series=series, summary=summary, matrices=mats)
    heads = []
    for m in mats:
        d = summary.get(m)
        if not d:
            continue
        h = f"{m}: σ_max/√(η/λ) max/min {d['sigma_max_normalized_max_over_min']:.2f} over all pairs"
        t = d.get("trend_vs_eta_over_lambda_at_equal_decay") or {}
        if t:
            h += f", trend at equal ηλ ∝ (η/λ)^{fmt_ci(t)}"
        heads.append(h)
    out["headline"] = "; ".join(heads) + f"; dropped {split.n_dropped}" + f"; {refusal_note(steady_rows)}"
    return clean(out)


# ---------------------------------------------------------------------------- plot
@styled
def plot(data: dict) -> Figure:
    mats = data["matrices"]
    fig, axes = new_figure(len(mats), 2, title=data["title"])
    cmap = plt.get_cmap("tab10")
    for i, m in enumerate(mats):
        ser = data["series"].get(m, {})
        for j, (lab, d) in enumerate(ser.items()):
            s = np.asarray(d["sigma"], float)
            k = np.arange(1, s.size + 1)
            axes[i, 0].plot(k, s, color=cmap(j), label=lab)
            axes[i, 1].plot(k, s / d["scale"], color=cmap(j), label=lab)
        summ = data["summary"].get(m, {})
        tops = [np.asarray(d["sigma"], float)[0] for d in ser.values()]
        scl = [d["scale"] for d in ser.values()]
        for ax, kind, ylab, top in (
            (axes[i, 0], "raw", f"σ_k  ({m})", max(tops, default=1.0)),
            (
                axes[i, 1],
                "normalized",
                "σ_k / √(η_l/λ_l)",
                max((t / c for t, c in zip(tops, scl)), default=1.0),
            ),
        ):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(1e-3 * top, 2 * top)  # tails that decayed to ~0 are cut off
            ax.set_ylabel(ylab)
            c = summ.get(kind, {})
            ax.set_title(
                f"{kind}; all pairs: max dev. from geo-mean {c.get('max_rel_dev', NAN):.0%}\n"
                f"(σ_max alone {c.get('top_rel_dev', NAN):.0%})",
                fontsize=7.5,
            )
        notes = []
        if "equal_decay_pairs" in summ:
            e = summ["equal_decay_pairs"]
            notes.append(
                f"equal ηλ: raw {e['raw']['max_rel_dev']:.1%} → "
                f"normalized {e['normalized']['max_rel_dev']:.1%}"
            )
        if "equal_ratio_pairs" in summ:
            notes.append(f"equal η/λ: {summ['equal_ratio_pairs']['max_rel_dev']:.1%}")
        notes.append(f"shape only (÷σ_max): {summ.get('normalized', {}).get('shape_max_rel_dev', NAN):.1%}")
        notes.append(f"σ_max/√(η/λ) max/min: {summ.get('sigma_max_normalized_max_over_min', NAN):.2f}")
        tr = summ.get("trend_vs_eta_over_lambda_at_equal_decay") or {}
        if tr:
            notes.append(f"equal ηλ: σ_max/√(η/λ) ∝ (η/λ)^{fit_label(tr)}")
        axes[i, 1].text(
            0.02,
            0.03,
            "max |σ_k/geo-mean − 1| over σ_k ≥ 5% σ_1\n" + "\n".join(notes),
            transform=axes[i, 1].transAxes,
            fontsize=6.5,
            color="0.3",
        )
    for ax in axes[-1]:
        ax.set_xlabel("index k")
    axes[0, 0].legend(ncol=2)
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def make(pipe) -> dict:
    return analyse(pipe.results(configs(pipe.quick)), LR, WD)


FIGURE = FigureSpec("F2", "f2_spectra_collapse", configs, analyse, plot, make)
