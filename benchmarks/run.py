"""Benchmark the mupsim simulator: ms/step vs width against NumPy, PyTorch eager and the
roofline; a profile of the compiled step; sweep throughput; a correctness cross-check.

    python -m benchmarks.run [--quick] [--widths 64,128,...] [--out benchmarks/RESULTS.md]
                             [--no-sweep] [--no-torch] [--no-check] [--repeats R]

Writes a Markdown report (``--out``) and the raw numbers next to it (same stem, ``.json``).

Benchmarked network (identical in all implementations): model "normalized", embedding n×16,
one residual block with two n×n matrices, RMSNorm before and after (no gains, no biases),
ReLU, readout 1×n, MSE on online teacher–student batches of 64, AdamW (β = 0.9, 0.95,
coupled wd), μP settings from the calculator (base width 64, lr 1e-3, wd 0.1, rule
"constant"), float32. mupsim runs with ``n_logs=2`` (diagnostics only at step 0 and the
last step).

Timing: single thread everywhere (BLAS/OpenMP/numba/torch pinned to 1 thread by
``benchmarks/__init__``). The machine may be shared, so each number is the median over
repeats of a block of K steps, K chosen so a block lasts ~0.4 s (0.15 s with --quick); both
wall-clock and process CPU time are recorded, with the load average. For mupsim the
per-step time is the slope between a K-step and a 2-step call of the compiled loop (this
removes the fixed cost of the step-0/last-step diagnostics: power iterations, held-out loss),
median over paired repeats. Batches: mupsim generates them inside its loop; NumPy and torch
generate theirs with their own RNG inside the timed step (same distribution).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import benchmarks  # noqa: F401  (pins threads before numpy/numba/torch are imported)
from benchmarks import roofline as RF
from benchmarks.numpy_net import NumpyBatches, NumpyNet

WIDTHS = (64, 128, 256, 512, 1024, 2048)
MARKER = "<!-- analysis: hand-written, kept by benchmarks.run across re-runs -->"
BATCH = 64
BASE = dict(
    model="normalized",
    base_width=64,
    batch_size=BATCH,
    dtype="float32",
    optimizer="adamw",
    lr=1e-3,
    wd=0.1,
    wd_rule="constant",
    n_logs=2,
    seed=0,
)


def config(n, steps, **kw):
    from mupsim.sim.config import SimConfig

    return SimConfig(**{**BASE, "width": n, "steps": steps, **kw})


def load():
    return os.getloadavg()


# ---------------------------------------------------------------------- timers
def _block(fn, K):
    w0, c0 = time.perf_counter(), time.process_time()
    fn(K)
    return (time.perf_counter() - w0) / K, (time.process_time() - c0) / K


def time_stepper(step_once, target_s, repeats):
    """Median (wall, cpu) seconds per step of ``step_once`` over ``repeats`` blocks."""

    def run(K):
        for _ in range(K):
            step_once()

    run(3)  # warm-up
    est = _block(run, 3)[0]
    K = int(min(5000, max(3, target_s / max(est, 1e-7))))
    ws, cs = zip(*[_block(run, K) for _ in range(repeats)])
    return float(np.median(ws)), float(np.median(cs)), K


def time_mupsim(n, target_s, repeats):
    """Per-step (wall, cpu) seconds of the compiled loop: slope between K+2 and 2 steps."""
    from mupsim.sim.run import execute, prepare

    small = prepare(config(n, 2))
    execute(small)  # compile / load the cache
    t_small = _block(lambda _: execute(small), 1)[0]
    mid = prepare(config(n, 12))
    t_mid = _block(lambda _: execute(mid), 1)[0]
    est = max((t_mid - t_small) / 10, 1e-6)
    # the fixed diagnostic cost (power iterations, held-out loss) is large at big n: make the
    # K steps last several times longer than it so that the difference is not noise
    K = int(min(5000, max(5, target_s / est, 4 * t_small / est)))
    big = prepare(config(n, 2 + K))
    dw, dc = [], []
    for _ in range(repeats):
        (wb, cb), (wsm, csm) = _block(lambda _: execute(big), 1), _block(lambda _: execute(small), 1)
        dw.append((wb - wsm) / K)
        dc.append((cb - csm) / K)
    return float(np.median(dw)), float(np.median(dc)), K


def profile_mupsim(n, target_s, repeats):
    """Median wall seconds per call of the compiled pieces of one step, called from Python
    (each call pays numba's dispatch overhead, a few µs)."""
    from mupsim.sim.kernels.data import STREAM_ONLINE, make_batch
    from mupsim.sim.kernels.model import backward, forward, loss_and_grad, ws_size, ws_views
    from mupsim.sim.kernels.optim import opt_step
    from mupsim.sim.run import prepare

    prep = prepare(config(n, 1000))
    lay, d, cfg = prep.layout, prep.data, prep.config
    theta = prep.theta0.copy()
    grad, m, v = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    ws = np.zeros(ws_size(lay.arch, BATCH), theta.dtype)
    Xb = np.zeros((BATCH, cfg.input_dim), theta.dtype)
    Tb = np.zeros((BATCH, cfg.output_dim), theta.dtype)
    hid = np.zeros((BATCH, d.A1.shape[0]), theta.dtype)
    fa = (
        theta,
        lay.offsets,
        lay.rows,
        lay.cols,
        prep.mult,
        lay.emb,
        lay.readout,
        lay.blocks,
        lay.arch,
        lay.farch,
    )
    dY = ws_views(ws, lay.arch, BATCH)[10]
    t = [0]

    def batch():
        make_batch(Xb, Tb, hid, d.A1, d.A2, d.xscale, d.cdf, False, 0.0, 0, STREAM_ONLINE, t[0])

    def fwd():
        Y = forward(*fa, Xb, ws)
        loss_and_grad(Y, Tb, dY, False, True)

    def bwd():
        backward(theta, grad, *fa[1:], Xb, ws)

    zero_lr = np.zeros_like(prep.p_lr)  # lr 0 keeps theta fixed so repeated calls stay finite

    def opt():
        opt_step(
            theta,
            grad,
            m,
            v,
            lay.offsets,
            lay.rows,
            lay.cols,
            prep.muon_scale,
            zero_lr,
            prep.p_wd,
            1.0,
            t[0],
            prep.opt,
            prep.hyper,
            prep.independent,
            prep.p_eps,
        )

    batch()
    fwd()
    bwd()
    out = {}
    for name, fn in (("batch", batch), ("forward+loss", fwd), ("backward", bwd), ("adamw", opt)):
        out[name] = time_stepper(fn, target_s / 2, repeats)[0]
    return out


# ---------------------------------------------------------------------- correctness
def check(width=128, steps=100):
    """float64: mupsim vs the NumPy reference (the test's criterion) and vs the two
    baselines fed the simulator's own batches. Returns max relative parameter errors."""
    from benchmarks import torch_net
    from mupsim.sim.data import BatchStream
    from mupsim.sim.reference import train_reference
    from mupsim.sim.run import execute, prepare

    prep = prepare(config(width, steps, dtype="float64"))
    theta, div, *_ = execute(prep)
    assert div == -1

    def rel(a):
        return float(np.max(np.abs(a - theta)) / np.max(np.abs(theta)))

    res = {"width": width, "steps": steps}
    res["reference"] = rel(train_reference(prep)[1])
    nets = {"numpy_net": NumpyNet(prep, "float64")}
    ok, _ = torch_net.available()
    if ok:
        nets["torch_net"] = torch_net.TorchNet(prep, "float64")
    for name, net in nets.items():
        stream = BatchStream(prep.data, BATCH)
        for t in range(steps):
            X, T = stream.batch(t)
            if name == "torch_net":
                X, T = torch_net._torch.from_numpy(X), torch_net._torch.from_numpy(T)
            net.step(X, T)
        res[name] = rel(net.flat_params())
    return res


# ---------------------------------------------------------------------- sweep
SWEEP_WIDTHS = (64, 128, 256, 512)
SWEEP_LRS = tuple(float(x) for x in np.geomspace(1e-4, 1e-2, 5))
SWEEP_WDS = tuple(float(x) for x in np.geomspace(1e-3, 1e0, 5))
SWEEP_SEEDS = (0, 1)


def sweep_throughput(quick, steps=2000):
    """Run a subset of the 4-width × 5-lr × 5-wd × 2-seed sweep (2,000 steps, default
    n_logs=40 diagnostics) with ``mupsim.sim.sweep(workers=2)`` and extrapolate."""
    from mupsim.sim.sweep import sweep

    full = len(SWEEP_WIDTHS) * len(SWEEP_LRS) * len(SWEEP_WDS) * len(SWEEP_SEEDS)
    lrs = SWEEP_LRS[2:3]
    wds = SWEEP_WDS[2:3] if quick else SWEEP_WDS[1:3]
    seeds = SWEEP_SEEDS
    sub = [
        config(n, steps, lr=lr, wd=wd, seed=s, n_logs=40)
        for n in SWEEP_WIDTHS
        for lr in lrs
        for wd in wds
        for s in seeds
    ]
    la0 = load()
    with tempfile.TemporaryDirectory() as tmp:
        w0, _c0 = time.perf_counter(), time.process_time()
        res = sweep(sub, tmp, workers=2, progress=False)
        wall = time.perf_counter() - w0
    status = {}
    for r in res:
        status[r.status] = status.get(r.status, 0) + 1
    per_min = len(sub) / wall * 60
    return {
        "widths": SWEEP_WIDTHS,
        "lrs": SWEEP_LRS,
        "wds": SWEEP_WDS,
        "seeds": SWEEP_SEEDS,
        "steps": steps,
        "full_configs": full,
        "subset_configs": len(sub),
        "subset_lrs": lrs,
        "subset_wds": wds,
        "subset_wall_s": wall,
        "status": status,
        "configs_per_min": per_min,
        "full_sweep_min_extrapolated": full / per_min,
        "load_before": la0,
        "load_after": load(),
    }


# ---------------------------------------------------------------------- report
def machine():
    info = {"python": platform.python_version(), "numpy": np.__version__}
    import numba
    import scipy

    info["numba"] = numba.__version__
    info["scipy"] = scipy.__version__
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in (
                "Model name",
                "CPU(s)",
                "Thread(s) per core",
                "L2 cache",
                "L3 cache",
                "CPU max MHz",
            ):
                info[k.strip()] = v.strip()
    except Exception:  # noqa: BLE001
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy BLAS"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001
        pass
    return info


def fmt(x, nd=2):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    return f"{x:.{nd}f}" if abs(x) < 100 else f"{x:.0f}"


def report(R):
    L = []
    L.append("# mupsim simulator benchmark\n")
    L.append(
        f"Generated by `python -m benchmarks.run {' '.join(R['argv'])}` on "
        f"{R['date']} (UTC), total {R['elapsed_s']:.0f} s.\n"
    )
    mi = R["machine"]
    L.append("**Machine:** " + ", ".join(f"{k} {v}" for k, v in mi.items()) + ".  ")
    L.append(f"**torch:** {R['torch']}.  ")
    la = R["load"]
    L.append(
        f"**Load average** (1/5/15 min) at start {la['start'][0]:.2f}/{la['start'][1]:.2f}/"
        f"{la['start'][2]:.2f}, at end {la['end'][0]:.2f}/{la['end'][1]:.2f}/"
        f"{la['end'][2]:.2f} on {os.cpu_count()} cores — a loaded, shared machine inflates "
        f"wall times; CPU-time columns are less sensitive to it.\n"
    )
    L.append(
        "**Setup:** normalized network (embedding n×16, one block of two n×n matrices, "
        "RMSNorm pre+post, ReLU, readout 1×n), batch 64, online data, AdamW, float32, "
        "single thread everywhere; mupsim with `n_logs=2` (diagnostics at step 0 and the "
        "last step only) and its per-step time taken as the slope between a long and a "
        "2-step run (excludes that fixed diagnostic cost); NumPy = `benchmarks/numpy_net.py`"
        " (the reference oracle computes float32 runs in float64 under NumPy 2, so it is "
        "not used as the timed baseline); torch = `benchmarks/torch_net.py`, eager, "
        "`torch.optim.AdamW` default implementation. Medians of "
        f"{R['repeats']} repeats.\n"
    )
    rf = R["roofline"]
    L.append(
        f"**Roofline inputs:** peak NumPy SGEMM 1024³ {rf['peak_gemm_gflops']:.1f} GFLOP/s; "
        f"bandwidth copy {rf['bw_copy_gbs']:.1f} GB/s, axpy {rf['bw_axpy_gbs']:.1f} GB/s "
        f"(roofline uses {rf['bw_gbs']:.1f}); AdamW traffic 7×4 B per parameter.\n"
    )
    L.append("## ms/step vs width (wall-clock median; CPU-time median in brackets)\n")
    hdr = ["n", "mupsim", "NumPy", "torch eager"]
    if any("torch_fused" in R["widths"][str(n)] for n in R["width_list"]):
        hdr.append("torch fused AdamW")
    hdr += ["roofline", "GEMM GFLOP/s @n", "speed-up vs NumPy", "speed-up vs torch", "% of roofline"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    for n in R["width_list"]:
        w = R["widths"][str(n)]
        rw = rf["per_width"][str(n)]

        def cell(key):
            if key not in w:
                return "skipped"
            return f"{fmt(1e3 * w[key]['wall'], 3)} ({fmt(1e3 * w[key]['cpu'], 3)})"

        row = [str(n), cell("mupsim"), cell("numpy"), cell("torch")]
        if "torch fused AdamW" in hdr:
            row.append(cell("torch_fused"))
        mu = w["mupsim"]["wall"]
        row += [
            fmt(rw["roofline_ms"], 3),
            fmt(rw["gemm_gflops"], 1),
            f"{w['numpy']['wall'] / mu:.1f}×",
            f"{w['torch']['wall'] / mu:.1f}×" if "torch" in w else "—",
            f"{100 * rw['roofline_ms'] / (1e3 * mu):.0f}%",
        ]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append(
        "CPU-time speed-ups (less load-sensitive): "
        + "; ".join(
            f"n={n}: ×{R['widths'][str(n)]['numpy']['cpu'] / R['widths'][str(n)]['mupsim']['cpu']:.1f}"
            " vs NumPy"
            + (
                f", ×{R['widths'][str(n)]['torch']['cpu'] / R['widths'][str(n)]['mupsim']['cpu']:.1f} vs torch"
                if "torch" in R["widths"][str(n)]
                else ""
            )
            for n in R["width_list"]
        )
        + ".\n"
    )
    if R.get("profile"):
        L.append("## Where mupsim's step time goes (compiled pieces called one by one, wall ms)\n")
        L.append(
            "| n | batch | forward+loss | backward | AdamW | sum | AdamW share | "
            "AdamW GB/s | fwd+bwd GFLOP/s |"
        )
        L.append("|---|---|---|---|---|---|---|---|---|")
        for n in R["width_list"]:
            p = R["profile"].get(str(n))
            if not p:
                continue
            s = sum(p.values())
            rw = rf["per_width"][str(n)]
            L.append(
                f"| {n} | {fmt(1e3 * p['batch'], 3)} | {fmt(1e3 * p['forward+loss'], 3)} | "
                f"{fmt(1e3 * p['backward'], 3)} | {fmt(1e3 * p['adamw'], 3)} | "
                f"{fmt(1e3 * s, 3)} | {100 * p['adamw'] / s:.0f}% | "
                f"{rw['opt_bytes'] / p['adamw'] / 1e9:.1f} | "
                f"{rw['flops'] / (p['forward+loss'] + p['backward']) / 1e9:.1f} |"
            )
        L.append("")
    if R.get("targets"):
        L.append("## Targets\n")
        for t in R["targets"]:
            L.append(f"- {t}")
        L.append("")
    if R.get("sweep"):
        s = R["sweep"]
        L.append("## Sweep throughput\n")
        L.append(
            f"Sweep: widths {list(s['widths'])} × 5 lr × 5 wd × 2 seeds = "
            f"{s['full_configs']} configs, {s['steps']} steps, batch 64, float32, default "
            f"diagnostics (n_logs=40), `mupsim.sim.sweep(workers=2)`. Measured on a subset of "
            f"{s['subset_configs']} configs (every width equally represented: lr "
            f"{[f'{x:.0e}' for x in s['subset_lrs']]}, wd {[f'{x:.0e}' for x in s['subset_wds']]}, "
            f"both seeds; statuses {s['status']}) in {s['subset_wall_s']:.1f} s wall "
            f"(load {s['load_before'][0]:.2f} → {s['load_after'][0]:.2f}), "
            f"**{s['configs_per_min']:.1f} configs/minute**; extrapolated full sweep "
            f"≈ **{s['full_sweep_min_extrapolated']:.1f} min** (the subset's mix of widths equals "
            "the full sweep's; worker start-up is amortised over fewer runs in the subset, "
            "so this is slightly pessimistic).\n"
        )
    if R.get("check"):
        c = R["check"]
        L.append("## Correctness (float64)\n")
        L.append(
            f"Width {c['width']}, {c['steps']} AdamW steps, same init and batches; max |Δθ| / "
            f"max |θ| against mupsim's compiled loop: NumPy reference oracle "
            f"{c['reference']:.1e}; benchmarks NumPy net {c['numpy_net']:.1e}"
            + (f"; torch net {c['torch_net']:.1e}" if "torch_net" in c else "")
            + ". (tests/test_sim_reference.py asserts the oracle agreement to rtol 1e-6.)\n"
        )
    if R.get("notes"):
        L.append("## Notes\n")
        L.extend(R["notes"])
    return "\n".join(L) + "\n"


def evaluate_targets(R):
    out = []
    ws = R["width_list"]
    small = [n for n in ws if n <= 256]
    if any("torch" in R["widths"][str(n)] for n in ws):
        if small:
            sp = {
                n: R["widths"][str(n)]["torch"]["wall"] / R["widths"][str(n)]["mupsim"]["wall"] for n in small
            }
            met = all(v >= 10 for v in sp.values())
            out.append(
                f"≥10× faster than torch eager for n ≤ 256: **{'met' if met else 'NOT met'}** "
                f"({', '.join(f'n={n}: {v:.1f}×' for n, v in sp.items())})"
            )
        if 2048 in ws:
            v = R["widths"]["2048"]["torch"]["wall"] / R["widths"]["2048"]["mupsim"]["wall"]
            out.append(
                f"≥2× faster than torch eager at n = 2048: **{'met' if v >= 2 else 'NOT met'}** ({v:.2f}×)"
            )
    else:
        out.append("torch targets: not evaluated (torch not importable)")
    big = [n for n in ws if n >= 1024]
    if big:
        pr = {
            n: R["roofline"]["per_width"][str(n)]["roofline_ms"]
            / (1e3 * R["widths"][str(n)]["mupsim"]["wall"])
            for n in big
        }
        met = all(v >= 0.6 for v in pr.values())
        out.append(
            f"≥60% of roofline for n ≥ 1024: **{'met' if met else 'NOT met'}** "
            f"({', '.join(f'n={n}: {100 * v:.0f}%' for n, v in pr.items())})"
        )
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="shorter blocks, fewer repeats, widths up to 512, smaller sweep subset",
    )
    ap.add_argument(
        "--widths", type=str, default=None, help="comma-separated widths (default 64..2048; --quick: 64..512)"
    )
    ap.add_argument("--out", type=str, default=str(Path(__file__).with_name("RESULTS.md")))
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--torch-fused", action="store_true", help="also time torch with AdamW(fused=True)")
    a = ap.parse_args(argv)
    t_start = time.perf_counter()
    if a.widths:
        widths = [int(x) for x in a.widths.split(",") if x.strip()]
    else:
        widths = [n for n in WIDTHS if n <= 512] if a.quick else list(WIDTHS)
    repeats = a.repeats or (3 if a.quick else 5)
    target = 0.15 if a.quick else 0.4
    from benchmarks import torch_net

    torch_ok, torch_msg = (False, "disabled (--no-torch)") if a.no_torch else torch_net.available()
    if not torch_ok:
        print(f"[bench] skipping torch: {torch_msg}", flush=True)
    R = {
        "argv": sys.argv[1:] if argv is None else list(argv),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "torch": torch_msg,
        "repeats": repeats,
        "width_list": widths,
        "load": {"start": load()},
        "widths": {},
        "profile": {},
        "notes": [],
    }
    from mupsim.sim.run import prepare

    print(f"[bench] roofline (load {load()[0]:.2f})", flush=True)
    rf = RF.roofline(widths, quick=a.quick)
    rf["per_width"] = {str(k): v for k, v in rf["per_width"].items()}
    R["roofline"] = rf
    for n in widths:
        w = {}
        wl, cp, K = time_mupsim(n, target, repeats)
        w["mupsim"] = {"wall": wl, "cpu": cp, "K": K}
        prep = prepare(config(n, 10))
        net, data = NumpyNet(prep), NumpyBatches(prep)
        wl, cp, K = time_stepper(lambda: net.step(*data()), target, repeats)
        w["numpy"] = {"wall": wl, "cpu": cp, "K": K}
        variants = [("torch", "default")] + ([("torch_fused", "fused")] if a.torch_fused else [])
        if torch_ok:
            for key, var in variants:
                tn, td = torch_net.TorchNet(prep, variant=var), torch_net.TorchBatches(prep)
                wl, cp, K = time_stepper(lambda: tn.step(*td()), target, repeats)
                w[key] = {"wall": wl, "cpu": cp, "K": K}
        w["load"] = load()
        R["widths"][str(n)] = w
        print(
            f"[bench] n={n}: "
            + ", ".join(f"{k} {1e3 * v['wall']:.3f} ms" for k, v in w.items() if isinstance(v, dict))
            + f" | roofline {rf['per_width'][str(n)]['roofline_ms']:.3f} ms"
            + f" | load {w['load'][0]:.2f}",
            flush=True,
        )
        if not a.no_profile:
            R["profile"][str(n)] = profile_mupsim(n, target, repeats)
            print(
                "[bench]   profile: "
                + ", ".join(f"{k} {1e3 * v:.3f} ms" for k, v in R["profile"][str(n)].items()),
                flush=True,
            )
    R["targets"] = evaluate_targets(R)
    if not a.no_check:
        print("[bench] correctness check", flush=True)
        R["check"] = check()
    if not a.no_sweep:
        print(f"[bench] sweep throughput (load {load()[0]:.2f})", flush=True)
        R["sweep"] = sweep_throughput(a.quick)
    R["load"]["end"] = load()
    R["elapsed_s"] = time.perf_counter() - t_start
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = report(R)
    if out.exists():  # keep the hand-written analysis below the marker across re-runs
        old = out.read_text()
        if MARKER in old:
            text += "\n" + old[old.index(MARKER) :]
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(R, indent=1, default=str))
    print(text)
    return R


if __name__ == "__main__":
    main()
