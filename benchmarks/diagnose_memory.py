"""Peak memory and time of ``mupsim diagnose`` on a ~1 GB half-precision checkpoint.

    python -m benchmarks.diagnose_memory [--dir /tmp] [--format bf16|f16] [--pt] [--keep]

Writes a GPT-like state_dict at d_model 4096 (token embedding 32000×4096; two blocks with qkv
12288×4096, proj 4096×4096, fc 16384×4096, fc_out 4096×16384; norm vectors) as ``.safetensors``
(bf16 or fp16, ~1.0 GiB), one tensor at a time; entries are Gaussian with a rank-1 spike of
3× the bulk's edge (trained matrices have outliers; a flat Gaussian spectrum is the slowest
case for power iteration). Then runs ``mupsim diagnose FILE --format json`` in a fresh child
process and reports its wall time and peak resident set size (``VmHWM`` of that child:
memory-mapped pages it touched count too), and the same for a child that only imports the CLI. With ``--pt`` the same tensors are also saved with
``torch.save`` and diagnosed. The files are deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from mupsim.torch.checkpoints import write_safetensors

D, VOCAB, BLOCKS = 4096, 32000, 2


def shapes():
    out = {"tok.weight": (VOCAB, D)}
    for b in range(BLOCKS):
        out.update(
            {
                f"blocks.{b}.ln1.weight": (D,),
                f"blocks.{b}.qkv.weight": (3 * D, D),
                f"blocks.{b}.proj.weight": (D, D),
                f"blocks.{b}.ln2.weight": (D,),
                f"blocks.{b}.fc.weight": (4 * D, D),
                f"blocks.{b}.fc_out.weight": (D, 4 * D),
            }
        )
    return out


def factory(shape, seed):
    def make():
        rng = np.random.default_rng(seed)
        if len(shape) == 1:
            return np.ones(shape, np.float32)
        w = rng.standard_normal(shape, dtype=np.float32) * (1.0 / np.sqrt(shape[1]))
        edge = 1.0 + np.sqrt(shape[0] / shape[1])
        u = rng.standard_normal(shape[0]).astype(np.float32)
        v = rng.standard_normal(shape[1]).astype(np.float32)
        w += np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v)) * np.float32(3 * edge)
        return w

    return make


# VmHWM (peak RSS of this process's address space since exec) — not getrusage's ru_maxrss, which on
# Linux carries over the parent's peak through fork + exec
_CHILD = (
    "import sys\n"
    "from mupsim.cli import main\n"
    "rc = main(['diagnose', sys.argv[1], '--format', 'json'])\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "sys.stderr.write('PEAK_KIB %s\\n' % hwm)\n"
    "raise SystemExit(rc)\n"
)
_BASELINE = (
    "import sys\n"
    "from mupsim.cli import build_parser\n"
    "import mupsim.torch.diagnose, mupsim.torch.checkpoints\n"
    "build_parser()\n"
    "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
)


def run_child(path):
    """Wall time, peak RSS (GiB, of that child alone) and JSON output of ``mupsim diagnose path``."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _CHILD, path], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    peak_kib = int(r.stderr.rsplit("PEAK_KIB", 1)[1].split()[0])
    return wall, peak_kib / 2**20, json.loads(r.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--format", default="bf16", choices=("bf16", "f16"))
    ap.add_argument("--pt", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    sh = shapes()
    path = os.path.join(args.dir, f"mupsim_bench_{args.format}.safetensors")
    t = time.perf_counter()
    write_safetensors(
        path,
        {k: (s, factory(s, i)) for i, (k, s) in enumerate(sh.items())},
        dtype="BF16" if args.format == "bf16" else "F16",
    )
    print(
        f"wrote {path}: {os.path.getsize(path) / 2**30:.2f} GiB in {time.perf_counter() - t:.0f} s",
        flush=True,
    )
    results = []
    base = subprocess.run([sys.executable, "-c", _BASELINE], capture_output=True, text=True, check=True)
    print(f"baseline (python + mupsim CLI imports): peak RSS {int(base.stdout) / 2**20:.2f} GiB", flush=True)
    try:
        wall, peak, doc = run_child(path)
        largest = max(np.prod(s) for s in sh.values()) * 4 / 2**30
        print(
            f"mupsim diagnose ({args.format} safetensors): {wall:.1f} s wall, peak RSS {peak:.2f} GiB "
            f"(largest tensor as float32: {largest:.2f} GiB); {len(doc['matrices'])} matrices",
            flush=True,
        )
        results.append(("safetensors " + args.format, wall, peak))
        errs = []
        for m in doc["matrices"]:
            s = sh[m["name"]]
            expect = 3 * (1.0 + np.sqrt(s[0] / s[1]))
            errs.append(abs(m["sigma_max"] / expect - 1))
        print(
            f"sigma_max vs the planted spike (an approximation, bulk adds ~1/spike²): max rel. diff "
            f"{max(errs):.3f}",
            flush=True,
        )
        if args.pt:
            import torch

            from mupsim.torch.checkpoints import Checkpoint

            ck = Checkpoint(path)
            dt = torch.bfloat16 if args.format == "bf16" else torch.float16
            pt = path.replace(".safetensors", ".pt")
            torch.save({k: torch.from_numpy(ck.get(k)).to(dt) for k in ck.names}, pt)
            del ck
            try:
                wall, peak, _ = run_child(pt)
                print(
                    f"mupsim diagnose ({args.format} .pt, torch mmap): {wall:.1f} s wall, peak RSS {peak:.2f} GiB",
                    flush=True,
                )
            finally:
                os.unlink(pt)
    finally:
        if not args.keep:
            os.unlink(path)
    return results


if __name__ == "__main__":
    main()
