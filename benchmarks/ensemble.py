"""Benchmark of the ensemble backend (mupsim.sim.ensemble): configurations per minute on the
sweep mix of benchmarks/RESULTS.md, on CPU and (when present) on a CUDA GPU, with the GPU's
roofline; plus CUDA correctness against stored numba results.

    python -m benchmarks.ensemble cpu  [--out benchmarks/ENSEMBLE_CPU.json] [--steps 2000]
    python -m benchmarks.ensemble gpu  [--out ENSEMBLE_GPU.json] [--refs DIR]
    python -m benchmarks.ensemble refs DIR      # numba reference results for the GPU check

Sweep mix (as in benchmarks/run.py): normalized net, one block, RMSNorm pre+post, batch 64,
AdamW, float32, μP with base width 64, wd rule "constant", widths 64/128/256/512 × 5 lr ×
5 wd × seeds, 2,000 steps, default diagnostics (n_logs = 40, final spectra). One ensemble
group per width (S = 5·5·seeds members); configs/min = configs / wall time of run_group,
everything included (prepare, training, diagnostics, spectra, Result objects).

CPU: each width group in its own process with one torch thread, two processes at a time
(the 2-core machine), against the numba sweep on the same configs with 2 workers.
GPU: groups run one after the other on the device; a small group first warms up CUDA.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import benchmarks  # noqa: F401  (pins threads)

WIDTHS = (64, 128, 256, 512)
LRS = tuple(float(x) for x in np.geomspace(1e-4, 1e-2, 5))
WDS = tuple(float(x) for x in np.geomspace(1e-3, 1e0, 5))
BASE = dict(
    model="normalized", base_width=64, batch_size=64, dtype="float32", optimizer="adamw", wd_rule="constant"
)


def mix(n, seeds, steps=2000, **kw):
    from mupsim.sim.config import SimConfig

    return [
        SimConfig(**{**BASE, "width": n, "steps": steps, "lr": lr, "wd": wd, "seed": s, **kw})
        for lr in LRS
        for wd in WDS
        for s in seeds
    ]


def statuses(res):
    out = {}
    for r in res:
        out[r.status] = out.get(r.status, 0) + 1
    return out


# ---------------------------------------------------------------------- CPU
def _cpu_group(args):
    n, steps = args
    import torch

    torch.set_num_threads(1)
    from mupsim.sim.ensemble import run_group

    cfgs = mix(n, (0, 1), steps)
    run_group(mix(n, (0,), 3)[:2], device="cpu")  # warm-up (numba optimizer kernel, torch)
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_group(cfgs, device="cpu")
    return {
        "n": n,
        "configs": len(cfgs),
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "status": statuses(res),
    }


def cpu(steps, widths):
    import multiprocessing as mp
    import tempfile

    from mupsim.sim.sweep import sweep

    out = {"steps": steps, "widths": widths, "load_before": os.getloadavg()}
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    with ctx.Pool(2) as pool:
        groups = pool.map(_cpu_group, [(n, steps) for n in widths], chunksize=1)
    wall = time.perf_counter() - t0
    nconf = sum(g["configs"] for g in groups)
    out["ensemble"] = {
        "groups": groups,
        "wall_s": wall,
        "configs": nconf,
        "configs_per_min": nconf / wall * 60,
    }
    # numba sweep on a subset of the same configs (two lr, two wd, both seeds per width)
    sub = [c for n in widths for c in mix(n, (0, 1), steps) if c.lr in LRS[1:3] and c.wd in WDS[1:3]]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = sweep(sub, tmp, workers=2, progress=False)
        w = time.perf_counter() - t0
    out["numba"] = {
        "configs": len(sub),
        "wall_s": w,
        "configs_per_min": len(sub) / w * 60,
        "status": statuses(res),
    }
    out["load_after"] = os.getloadavg()
    return out


# ---------------------------------------------------------------------- GPU
def gpu_roofline(dev):
    import torch

    f32 = torch.float32
    res = {}
    A = torch.randn(8192, 8192, device=dev, dtype=f32)
    B = torch.randn(8192, 8192, device=dev, dtype=f32)

    def timed(fn, reps=10):
        fn()
        torch.cuda.synchronize()
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        for _ in range(reps):
            fn()
        e1.record()
        torch.cuda.synchronize()
        return e0.elapsed_time(e1) / 1e3 / reps

    res["sgemm_8192_tflops"] = 2 * 8192**3 / timed(lambda: A @ B) / 1e12  # noqa: F821 (deleted below)
    A64, B64 = A.double()[:4096, :4096], B.double()[:4096, :4096]
    res["dgemm_4096_tflops"] = 2 * 4096**3 / timed(lambda: A64 @ B64) / 1e12  # noqa: F821
    del A64, B64
    x = torch.empty(2**28, device=dev, dtype=f32)
    y = torch.empty_like(x)
    res["copy_tbs"] = 2 * x.numel() * 4 / timed(lambda: y.copy_(x)) / 1e12  # noqa: F821
    del A, B, x, y
    # the step's products, batched as the ensemble runs them (S members, batch 64)
    res["bmm_step"] = {}
    for n, S in ((64, 50), (128, 50), (256, 50), (512, 50), (512, 200), (4096, 1)):
        X = torch.randn(S, 64, n, device=dev, dtype=f32)
        W = torch.randn(S, n, n, device=dev, dtype=f32)
        t = (
            timed(lambda: torch.bmm(X, W.transpose(1, 2)))
            + timed(lambda: torch.bmm(X, W))
            + timed(lambda: torch.bmm(X.transpose(1, 2), X))
        )
        res["bmm_step"][f"{n}x{S}"] = {
            "tflops": 3 * 2 * S * 64 * n * n / t / 1e12,
            "step_gemm_ms": 2 * t * 1e3,
        }  # 2 hidden matrices
    torch.cuda.empty_cache()
    return res


def roofline_ms(n, S, rates):
    """Lower bound per step for S members: hidden-matrix GEMMs at the measured batched rate
    + AdamW's 7 parameter-sized float32 arrays at the measured copy bandwidth."""
    gemm = rates["bmm_step"].get(f"{n}x{S}", {}).get("step_gemm_ms")
    params = n * 16 + 2 * n * n + n
    mem = 7 * 4 * params * S / (rates["copy_tbs"] * 1e12) * 1e3
    return None if gemm is None else gemm + mem


def check_cuda(refs_dir, dev):
    """max relative deviation of CUDA float64 ensemble results from stored numba results."""
    from mupsim.sim.config import SimConfig
    from mupsim.sim.ensemble import run_group
    from mupsim.sim.result import Result

    out = {}
    refs = sorted(Path(refs_dir).glob("*.json"))
    by_group = {}
    for p in refs:
        r = Result.load(p.with_suffix(""))
        by_group.setdefault(json.dumps([r.config[k] for k in ("optimizer", "model", "dtype")]), []).append(r)
    for _g, rs in by_group.items():
        cfgs = [SimConfig.from_dict(r.config) for r in rs]
        ens = run_group(cfgs, device=dev)
        worst = 0.0
        for a, b in zip(ens, rs):
            worst = max(
                worst,
                float(np.nanmax(np.abs(a.train_loss - b.train_loss) / np.abs(b.train_loss))),
                float(np.nanmax(np.abs(a.matrix["rms"] - b.matrix["rms"]) / b.matrix["rms"])),
                float(
                    np.nanmax(np.abs(a.matrix["sigma_max"] - b.matrix["sigma_max"]) / b.matrix["sigma_max"])
                ),
            )
            if a.status != b.status:
                worst = float("inf")
        name = f"{cfgs[0].model}/{cfgs[0].optimizer}/{cfgs[0].dtype}"
        out[name] = worst
        if cfgs[0].dtype == "float32":  # final train loss: GPU vs numba, and seed spread
            fe = np.array([a.final("test_loss") for a in ens])
            fn = np.array([b.final("test_loss") for b in rs])
            out[name + " final test loss (gpu, numba, seed sd)"] = [
                fe.tolist(),
                fn.tolist(),
                float(np.std(fn, ddof=1)),
            ]
    return out


def gpu(refs, ablation=True):
    import torch

    from mupsim.sim.ensemble import run_group

    dev = "cuda"
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    t0 = time.perf_counter()
    run_group(mix(64, (0,), 40)[:4], device=dev)
    out["warmup_s"] = time.perf_counter() - t0
    if refs:
        try:
            out["cuda_check"] = check_cuda(refs, dev)
        except Exception as e:  # noqa: BLE001 - report and go on with the timings
            import traceback

            traceback.print_exc()
            out["cuda_check"] = f"failed: {e!r}"
        print("[gpu] check", out["cuda_check"], flush=True)
    out["roofline"] = rates = gpu_roofline(dev)
    print("[gpu] roofline", json.dumps(rates), flush=True)
    out["mix"] = {}
    for seeds in ((0, 1), tuple(range(8))):
        S = 25 * len(seeds)
        rows = []
        for n in WIDTHS:
            cfgs = mix(n, seeds)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            res = run_group(cfgs, device=dev)
            w = time.perf_counter() - t0
            pv = res[0].provenance
            rows.append(
                {
                    "n": n,
                    "S": S,
                    "wall_s": w,
                    "status": statuses(res),
                    "prepare_s": pv["ensemble_prepare_s"],
                    "train_s": pv["ensemble_train_s"],
                    "spectra_s": pv["ensemble_spectra_s"],
                    "roofline_train_s": (roofline_ms(n, S, rates) or float("nan")) * 2000 / 1e3,
                }
            )
            print("[gpu] mix", rows[-1], flush=True)
        tot = sum(r["wall_s"] for r in rows)
        out["mix"][S] = {
            "groups": rows,
            "wall_s": tot,
            "configs": S * len(WIDTHS),
            "configs_per_min": S * len(WIDTHS) / tot * 60,
        }
        print("[gpu] mix S", S, out["mix"][S]["configs_per_min"], flush=True)
    # what the CUDA graphs and the compiled optimizer buy (one group each, switched off)
    import mupsim.sim.ensemble.optim as E

    abl = {}
    for n, S, what in ((64, 200, "no CUDA graphs"), (512, 50, "eager optimizer"))[: 2 * ablation]:
        cfgs = mix(n, tuple(range(S // 25)))
        E.COMPILE_OPT = what != "eager optimizer"
        t0 = time.perf_counter()
        res = run_group(cfgs, device=dev, graphs=what != "no CUDA graphs")
        abl[f"{n}x{S} {what}"] = {
            "wall_s": time.perf_counter() - t0,
            "train_s": res[0].provenance["ensemble_train_s"],
        }
        E.COMPILE_OPT = True
    out["ablation"] = abl
    print("[gpu] ablation", abl, flush=True)
    # one wide run
    from mupsim.sim.config import SimConfig

    big = {}
    for dt in ("float32",):
        cfg = SimConfig(**{**BASE, "width": 4096, "steps": 10000, "lr": 1e-3, "wd": 0.1, "dtype": dt})
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        r = run_group([cfg], device=dev)[0]
        big[dt] = {
            "wall_s": time.perf_counter() - t0,
            "status": r.status,
            "train_s": r.provenance["ensemble_train_s"],
            "spectra_s": r.provenance["ensemble_spectra_s"],
            "final_train_loss": r.final("train_loss"),
            "roofline_train_s": (roofline_ms(4096, 1, rates) or float("nan")) * 10000 / 1e3,
        }
        print("[gpu] n=4096", dt, big[dt], flush=True)
    out["n4096_10k"] = big
    return out


def refs(dirname):
    """Numba results (float64, short runs) for the CUDA agreement check."""
    from mupsim.sim.config import SimConfig
    from mupsim.sim.run import run

    d = Path(dirname)
    d.mkdir(parents=True, exist_ok=True)
    base = dict(
        width=64,
        steps=50,
        batch_size=32,
        n_test=128,
        n_logs=10,
        teacher_width=16,
        wd_rule="constant",
        dtype="float64",
    )
    variants = [
        dict(),
        dict(optimizer="muon", lr=0.02),
        dict(optimizer="sgd", lr=0.05),
        dict(optimizer="lion", lr=1e-4),
        dict(model="linear", depth=2),
        dict(optimizer="adam", wd=1e-3),
    ]
    for v in variants:
        for s in (0, 1):
            cfg = SimConfig(**{**base, "lr": 1e-3, "wd": 0.1, "seed": s, **v})
            run(cfg).save(d / cfg.key())
    for s in range(4):  # float32: statistics vs seed spread
        cfg = SimConfig(
            **{**base, "width": 128, "steps": 300, "dtype": "float32", "lr": 3e-3, "wd": 0.1, "seed": s}
        )
        run(cfg).save(d / cfg.key())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("cpu", "gpu", "refs"))
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--out")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--widths", default="64,128")
    ap.add_argument("--refs")
    ap.add_argument("--no-ablation", action="store_true")
    a = ap.parse_args(argv)
    if a.what == "refs":
        refs(a.dir)
        return 0
    if a.what == "cpu":
        R = cpu(a.steps, [int(w) for w in a.widths.split(",")])
    else:
        R = gpu(a.refs, ablation=not a.no_ablation)
    txt = json.dumps(R, indent=1, default=str)
    print(txt)
    if a.out:
        Path(a.out).write_text(txt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
