"""Showcase: does weight decay transfer across width for a LLaMA-style model on real text?

A LLaMA-style causal LM (:mod:`mupsim.lm.llama`: RMSNorm, SwiGLU, rotary positions, untied
head; head dimension fixed at 16, so the number of heads grows with the width and LLaMA's
1/√head_dim logit scale is width-independent) learns the running interpreter's standard-library
sources, byte-level (:mod:`mupsim.lm.corpus`, PSF licence, read locally). Every (rule, width, lr,
wd, seed) cell is trained with the bridge's AdamW groups by :func:`mupsim.torch.transfer_check`
and the report gives each rule's λ-optimum drift per width doubling.

Presets (``--preset``):

* ``small``  what a shared 2-core CPU affords (the committed result): widths 32, 64; one lr;
  wd 2^-2..2^2 (×2 spacing); seeds 0, 1, 2; rules constant, fan2025, timescale; 150 steps of
  16 × 64 bytes. About 90 runs, ~15 min on one core.
* ``full``   the complete check: widths 64–512, lr and wd grids at 2^½ spacing, 3 seeds, rules
  constant, fan2025, timescale and alignment at the α̂ measured by ``diagnose``, 2,000 steps;
  for a GPU or a cluster (``--workers`` / ``--scheduler``). Not run here.

Resumable: runs are stored under ``examples/output/llama_transfer_<preset>/`` keyed by their
config; interrupt with Ctrl-C and rerun the same command to continue. The report
(``report.json``, ``report.txt``, ``heatmap_<rule>.png``) is rewritten at the end of every
invocation; ``checkpoints`` (``ckpt/*.safetensors``, for ``diagnose``) are not committed.

Run: ``python examples/llama_transfer.py --preset small``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "output"

PRESETS = {
    "small": {
        "widths": [32, 64],
        "base_width": 32,
        "lrs": [2**-7.5],
        "wds": [2.0**k for k in range(-2, 3)],
        "seeds": [0, 1, 2],
        "rules": ["constant", "fan2025", "timescale"],
        "steps": 150,
        "context": 64,
        "batch": 16,
        "depth": 2,
        "alignment_exponent": None,
    },
    "full": {
        "widths": [64, 128, 256, 512],
        "base_width": 64,
        "lrs": [2.0 ** (k / 2) for k in range(-18, -13)],
        "wds": [2.0 ** (k / 2) for k in range(-6, 1)],
        "seeds": [0, 1, 2],
        "rules": ["constant", "fan2025", "timescale", "alignment"],
        "steps": 2000,
        "context": 128,
        "batch": 32,
        "depth": 4,
        "alignment_exponent": "measured",
    },
}


def corpus_small():
    """Byte-level stdlib corpus with the small preset's batch shape (an entry point for workers)."""
    from mupsim.lm.corpus import load_corpus

    p = PRESETS["small"]
    return load_corpus("byte", context=p["context"], batch_size=p["batch"], n_eval=64)


def corpus_full():
    from mupsim.lm.corpus import load_corpus

    p = PRESETS["full"]
    return load_corpus("byte", context=p["context"], batch_size=p["batch"], n_eval=128)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--workers", type=int, default=0, help="local worker processes (0 = this process)")
    ap.add_argument("--scheduler", default=None, help="Dask scheduler address")
    ap.add_argument(
        "--out", default=None, help="store folder (default examples/output/llama_transfer_<preset>)"
    )
    args = ap.parse_args(argv)

    import torch

    from mupsim.lm.llama import OVERRIDES, LlamaLM
    from mupsim.torch import transfer_check
    from mupsim.torch.transfer import TransferInterrupted

    torch.set_num_threads(1)
    p = PRESETS[args.preset]
    out = Path(args.out) if args.out else OUT / f"llama_transfer_{args.preset}"
    d = (corpus_small if args.preset == "small" else corpus_full)()  # keyed by its fingerprint
    executor = None
    if args.scheduler:
        from dask.distributed import Client

        executor = Client(args.scheduler).get_executor()
    t0 = time.time()
    try:
        rep = transfer_check(
            LlamaLM(depth=p["depth"], context=p["context"]),
            "mupsim.lm.trainer:train",
            p["widths"],
            p["base_width"],
            p["lrs"],
            p["wds"],
            p["seeds"],
            p["rules"],
            out,
            data=d,
            steps=p["steps"],
            alignment_exponent=p["alignment_exponent"],
            overrides=OVERRIDES,
            tag=f"examples/llama_transfer.py preset {args.preset}",
            executor=executor,
            workers=args.workers,
        )
    except TransferInterrupted as e:
        print(f"llama_transfer: {e}", file=sys.stderr)
        return 130
    wall = time.time() - t0
    text = rep.table()
    print(text)
    runs = [json.loads(f.read_text()) for f in sorted((out / "runs").glob("*.json"))]
    compute = sum(r["provenance"]["wall_time_s"] or 0 for r in runs)
    summary = {
        "preset": args.preset,
        "settings": p,
        "corpus": d.fingerprint() | d.info,
        "model": "LlamaForCausalLM via mupsim.lm.llama.make_llama (head_dim 16 fixed, SwiGLU 3n, untied)",
        "trainer": "mupsim.lm.trainer.train (AdamW groups from the bridge, linear warm-up then constant lr)",
        "runs_stored": len(runs),
        "compute_s_sum_of_runs": round(compute, 1),
        "wall_s_this_invocation": round(wall, 1),
    }
    from mupsim.torch.transfer import _write_json

    _write_json(out / "showcase.json", summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
