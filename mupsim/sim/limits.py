"""Size limits of a simulation, checked before anything is allocated.

:class:`~mupsim.sim.config.SimConfig` calls :func:`check` on construction, so ``run()``,
``mupsim simulate`` and ``mupsim sweep`` all refuse an oversized run the same way (a
:class:`~mupsim.errors.MupsimError`; exit 2 on the command line) before any array exists.

Stated limits:

* ``MAX_BYTES``: the peak memory of one run as estimated by :func:`estimate_bytes`, 8 GiB
  unless the environment variable ``MUPSIM_MAX_BYTES`` says otherwise (bytes, or a number
  with a K/M/G/T suffix, powers of 1024: ``MUPSIM_MAX_BYTES=64G``).
* ``MAX_STEPS`` = 10^8 optimizer steps.
* ``MAX_LOGS`` = 1,000 logged steps (``n_logs``; choosing them is quadratic in their number).
* ``MAX_SEED`` = 2^63 − 1 (seeds are 0..2^63−1: the compiled loop takes them as int64).
* ``MAX_SWEEP_CONFIGS`` = 100,000 configurations in one sweep spec, counted before expanding.

:func:`estimate_bytes` counts, in Python integers (no overflow, no allocation), every array a
run holds at its peak: the flat parameter buffer and its copies (float64 init, grad, two
optimizer moments, the pre-update copy of the matrices), two forward/backward workspaces,
the batch, the teacher and the held-out/training sets (with their generation scratch, and
the next-token task's teacher-entropy temporaries), the
logs, the rank diagnostics' Gram eigensolver (not with ``rank_metrics=False``), the Muon
Newton–Schulz temporaries and the final SVD. It is an upper estimate (all
parts added) of what the run allocates, not counting the ~200 MiB of the Python process with
numpy and the compiled kernels loaded. Measured 2026-11-23 (peak RSS during ``run`` minus RSS
before it): width 1024 125 MiB (estimate 164), width 2048 441 (599), width 512 depth 8
ffn_ratio 4 batch 512 1243 (1386), n_train 2·10^5 + n_test 10^5 137 (142), Muon width 1024
174 (220). Code adding SimConfig fields that allocate should add their arrays here.

:func:`estimate_seconds` is the run time of ``run(config)`` on one core of the numba loop, used to
order a pool of runs longest first (:mod:`mupsim.experiments.schedule`); only its ranking
matters there, so it is a plain sum of the dominant costs: per step, the forward and backward
products and the optimizer (∝ batch · matrix entries, plus a fixed step overhead, Muon's
Newton–Schulz iterations on top); per logged step, the held-out and fixed-train-set
evaluation (∝ rows · matrix entries) and the rank diagnostics' Gram eigensolver
(∝ min(r, c)² · max(r, c)); per run, a fixed start-up and the final spectra's SVD. See :data:`TIME_CONSTANTS` for the constants and their calibration.
"""

from __future__ import annotations

import os
import re

from mupsim.errors import MupsimError

N_METRICS = 14  # len(mupsim.sim.result.MATRIX_METRICS) (checked by a test)
DEFAULT_MAX_BYTES = 8 * 1024**3
MAX_STEPS = 10**8
MAX_LOGS = 1000
MAX_SEED = 2**63 - 1
MAX_SWEEP_CONFIGS = 100_000
ENV_MAX_BYTES = "MUPSIM_MAX_BYTES"

_SUFFIX = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def max_bytes() -> int:
    """The memory limit of one run: ``MUPSIM_MAX_BYTES`` if set (e.g. ``64G``), else 8 GiB."""
    text = os.environ.get(ENV_MAX_BYTES, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGT]?)(?:I?B)?", text.upper())
    value = float(m.group(1)) * _SUFFIX[m.group(2)] if m else 0.0
    if not 1 <= value < 2**80:
        raise MupsimError(
            f"{ENV_MAX_BYTES}={text!r} is not a memory size; allowed: a positive "
            f"number of bytes, optionally with a K, M, G or T suffix (e.g. 64G)"
        )
    return int(value)


def gib(nbytes: int) -> str:
    """``nbytes`` as a short human-readable size (powers of 1024)."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2)):
        if nbytes >= size:
            whole = nbytes // size
            if whole >= 10**6:  # beyond float range possibly: order of magnitude only
                return f"10^{len(str(whole)) - 1} {unit}"
            return f"{nbytes / size:.3g} {unit}"
    return f"{nbytes / 1024:.3g} KiB"


def matrix_shapes(config) -> list[tuple[int, int, str, int]]:
    """(rows, cols, layer class, count) of the matrices, as
    :func:`mupsim.sim.layout.build_layout` lays them out (Python integers, no per-block list:
    safe and fast for any size)."""
    n, k, out, L, r = (config.width, config.input_dim, config.output_dim, config.depth, config.ffn_ratio)
    if config.model == "linear":
        hidden = [(n, n, "hidden", L)]
    else:
        hidden = [(r * n, n, "hidden", L), (n, r * n, "hidden", L)]
    return [(n, k, "embedding", 1)] + hidden + [(out, n, "readout", 1)]


def n_vector_params(config) -> int:
    """Number of entries of the biases and norm gains (see layout)."""
    if config.model == "linear":
        return 0
    n, L, r = config.width, config.depth, config.ffn_ratio
    size = L * (r * n + n) if config.bias else 0
    if config.norm_gain and config.norm != "none":
        per_block = n * (
            (config.norm_position in ("pre", "both")) + (config.norm_position in ("post", "both"))
        )
        size += L * per_block
    return size


def n_params(config) -> int:
    """Entries of the flat parameter buffer (equals ``build_layout(config).size``)."""
    return sum(a * b * m for a, b, _, m in matrix_shapes(config)) + n_vector_params(config)


def teacher_dims(config) -> tuple[int, int | None]:
    """(width, rank) of the teacher (``SimConfig.teacher_dims``), never overflowing: a width
    too large for floating point counts as 2^256."""
    from mupsim.sim.config import SimConfig

    if not hasattr(config, "teacher_width_exponent"):
        return config.teacher_width, config.teacher_rank
    try:
        return SimConfig.teacher_dims(config)
    except (OverflowError, ValueError):
        return 2**256, None


def estimate_bytes(config) -> int:
    """Upper estimate of the peak memory (bytes) of ``run(config)``; see module docstring."""
    c = config
    s = 8 if c.dtype == "float64" else 4
    mats = matrix_shapes(c)
    pm = sum(a * bb * m for a, bb, _, m in mats)
    p = pm + n_vector_params(c)
    n_mats = sum(m for *_, m in mats)
    n, k, out, L, r, b = c.width, c.input_dim, c.output_dim, c.depth, c.ffn_ratio, c.batch_size
    tw, rank = teacher_dims(c)
    rn = r * n
    # parameters: float64 init + theta0 + working theta + grad + 2 moments + pre-update copy
    total = 8 * p + 5 * s * p + s * pm
    # two workspaces (train, evaluation): kernels.model.ws_size
    ws = (
        (L + 1) * b * n
        + 2 * L * b * n
        + 2 * L * b
        + 2 * L * b * rn
        + 2 * L * b * n
        + 2 * b * out
        + 3 * b * n
        + 2 * b * rn
    )
    total += 2 * s * ws
    # batch, teacher (float64 then cast), data sets and their generation scratch
    rank = rank or 0
    total += s * b * (k + out + tw)
    total += (8 + s) * (tw * k + out * tw) + 8 * rank * (tw + k)
    if getattr(c, "teacher_decay", None) is not None:  # SVD of A1 and its rebuilt copy
        total += 8 * (3 * tw * k + min(tw, k) * (tw + k + 1))
    total += 3 * 8 * k  # input scales / token probabilities and their CDF
    n_train = c.n_train or 0
    total += s * (c.n_test + n_train) * (k + out) + s * max(c.n_test, n_train) * tw + 8 * n_train
    if getattr(c, "task", None) == "next_token":
        # the teacher's entropy over the held-out set (float64 logits and 4 temporaries of
        # n_test × V, the hidden layer twice), the sampler's cumulative table
        total += 8 * c.n_test * (5 * out + 2 * tw) + 8 * out
    # logs: losses, N_METRICS metrics per matrix, activation sites, the log schedule itself
    T = min(c.n_logs, c.steps + 1)
    sites = (L + 2) if c.model == "linear" else (6 * L + 2)
    total += 8 * T * (2 + N_METRICS * n_mats + sites) + 8 * 4 * T
    # rank diagnostics at a logged step: float64 copy of a matrix, its Gram matrix and
    # eigvalsh's copy and workspace (kernels.diagnostics.singular_values); none without them
    if getattr(c, "rank_metrics", True):
        total += 8 * (max(a * bb for a, bb, *_ in mats) + 3 * max(min(a, bb) for a, bb, *_ in mats) ** 2)
    # power iteration vectors and scratch
    total += s * sum(cols * m for _, cols, _, m in mats) + s * max(a for a, *_ in mats)
    # Muon: Newton-Schulz temporaries (float64) on the largest hidden matrix, plus its gradient
    if c.optimizer in ("muon", "muon_all"):
        muon_cls = ("hidden",) if c.optimizer == "muon" else ("embedding", "hidden", "readout")
        big = max((a * bb, min(a, bb)) for a, bb, cls, _ in mats if cls in muon_cls)
        total += 8 * (3 * big[0] + 3 * big[1] ** 2) + s * big[0]
    # final spectra: a float64 copy of the largest matrix and the SVD's workspace; the spectra
    largest = max(a * bb for a, bb, *_ in mats)
    total += 3 * 8 * largest + 8 * sum(min(a, bb) * m for a, bb, _, m in mats)
    return int(total)


def largest_width(config, limit: int | None = None) -> int:
    """The largest width whose :func:`estimate_bytes` fits ``limit`` (default
    :func:`max_bytes`) with every other field of ``config`` kept; 0 if none does."""
    import dataclasses
    import types

    limit = max_bytes() if limit is None else limit
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}

    def fits(w: int) -> bool:
        return estimate_bytes(types.SimpleNamespace(**{**fields, "width": w})) <= limit

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def check(config) -> None:
    """Raise MupsimError if ``config`` exceeds a stated limit (module docstring)."""
    if config.steps > MAX_STEPS:
        raise MupsimError(
            f"steps={config.steps} exceeds the limit of {MAX_STEPS:.0e} optimizer "
            f"steps; allowed: 1..{MAX_STEPS}"
        )
    if config.n_logs > MAX_LOGS:
        raise MupsimError(
            f"n_logs={config.n_logs} exceeds the limit of {MAX_LOGS} logged steps; allowed: 2..{MAX_LOGS}"
        )
    if config.seed > MAX_SEED:
        raise MupsimError(f"seed={config.seed} is too large; allowed: integers 0..2^63-1 ({MAX_SEED})")
    need, limit = estimate_bytes(config), max_bytes()
    if need > limit:
        w = largest_width(config, limit)
        fits = (
            f"with the other settings unchanged, widths up to {w} fit"
            if w
            else "no width fits with the other settings: reduce n_train, n_test, batch_size, "
            "teacher_width, input_dim, output_dim, depth or n_logs"
        )
        raise MupsimError(
            f"this run would need about {gib(need)} of memory (width={config.width}, "
            f"depth={config.depth}, ffn_ratio={config.ffn_ratio}, batch_size={config.batch_size}, "
            f"n_train={config.n_train}, n_test={config.n_test}, dtype={config.dtype}), over the "
            f"limit of {gib(limit)}; {fits}, or raise the limit with {ENV_MAX_BYTES} (e.g. "
            f"{ENV_MAX_BYTES}=64G)"
        )


TIME_CONSTANTS = {
    "run": 0.034,
    "step": 6.8e-5,
    "mac": 2.4e-11,
    "eval_mac": 2.8e-11,
    "eig": 1.24e-10,
    "svd": 4.5e-10,
    "muon": 6.3e-11,
    "lookup_entry": 4.9e-9,
    "vocab": 2.0e-8,
    "normal": 2.7e-8,
}
"""Seconds per unit of :func:`estimate_seconds`: ``run`` per run, ``step`` per step, ``mac`` per
multiply–add of a training step (forward + backward + optimizer: 3 · batch · matrix entries),
``eval_mac`` per multiply–add of an evaluation pass (held-out and fixed train set rows · matrix
entries, at every logged step), ``eig`` per min(r, c)² · max(r, c) of the rank diagnostics at
a logged step, ``svd`` per min(r, c)² · max(r, c) of the final spectra, ``muon`` per
multiply–add of Newton–Schulz. Fitted (non-negative least squares on relative error) to 11
runs of ``mupsim.sim.run.run`` on one core of a 2-core x86-64 machine, 2026-12-02: normalized
model, depth 1, float32, batch 128; widths 64–1024, 40–2000 steps, 10–40 logs, rank
diagnostics on and off, Muon at width 256, a fixed train set of 512 rows at width 128. The
estimates were within 0.96–1.12× of the measured times (0.3–7 s), except the fixed train set
(0.54×: its minibatch sampling is not modelled).

Online data (a fresh batch per step) costs ``normal`` per Gaussian input entry and ``mac`` per
multiply–add of the teacher's forward pass: measured 2026-12-02 on the same machine with F5c's
task at width 64, 600 steps (k = 16 / 256 / 1,024 inputs at teacher width 16; teacher width
16 / 1,024 at k = 256), while another sweep shared it (3 processes on 2 cores: the differences
between runs taken × 2/3): 2.7e-8 s per input entry, and 2.4e-11 s per teacher multiply–add,
the training step's ``mac``. Without these terms the runs above were estimated 2–4× too short
(0.154 s estimated at k = 256 against 0.29–0.62 s measured, taken × 2/3).

The next-token task replaces the embedding's dense products by a lookup: its n·c·V entries
then cost ``lookup_entry`` each per step (their AdamW update and the gradient's zeroing,
scatter and scaling) instead of ``mac`` · 3 · batch, and each step adds ``vocab`` per batch
row and vocabulary entry (the sampler's and the loss's softmax); an evaluation pass likewise
skips the embedding's entries and adds ``vocab`` per row and vocabulary entry. Fitted
(least squares) to the lookup path's step times at widths 128, 256, 512 (V = 4,096, c = 2,
float32, batch 128; 21.0, 31.2, 55.4 ms, within 2% of the fit) measured 2026-12-02 on the same
machine while it ran other jobs (load average 6–8 on 2 cores: CPU time, inflated by the shared
caches; ``python -m benchmarks.next_token --steps --lookup-only --widths 128,256,512``,
benchmarks/NEXT_TOKEN.json)."""


def _online_data_per_row(c) -> float:
    """Seconds per batch row of generating online data (0 with a fixed train set, and for the
    next-token task, whose sampler is the ``vocab`` term): Gaussian inputs cost ``normal`` per
    entry and the teacher's dense first layer ``mac`` per multiply–add; token inputs look their
    first layer up; the teacher's readout costs ``mac`` per multiply–add either way."""
    if c.n_train is not None or getattr(c, "task", None) == "next_token":
        return 0.0
    k = TIME_CONSTANTS
    tw = c.teacher_dims()[0]
    if c.inputs == "tokens":
        return k["mac"] * (tw + tw * c.output_dim)
    return k["normal"] * c.input_dim + k["mac"] * (c.input_dim * tw + tw * c.output_dim)


def estimate_seconds(config) -> float:
    """Estimated wall time (s) of ``run(config)`` on one core (see module docstring)."""
    c, k = config, TIME_CONSTANTS
    mats = matrix_shapes(c)
    entries = sum(a * bb * m for a, bb, _, m in mats)
    cubic = sum(min(a, bb) ** 2 * max(a, bb) * m for a, bb, _, m in mats)
    steps = c.steps + 1
    lookup = getattr(c, "task", None) == "next_token"  # the embedding is a lookup (model.onehot_embed)
    emb = c.width * c.input_dim if lookup else 0
    vocab = c.output_dim if lookup else 0
    per_step = k["step"] + k["mac"] * 3 * c.batch_size * (entries - emb)
    per_step += k["lookup_entry"] * emb + k["vocab"] * c.batch_size * vocab
    per_step += c.batch_size * _online_data_per_row(c)
    t = k["run"] + k["svd"] * cubic + steps * per_step
    if c.optimizer in ("muon", "muon_all"):  # 5 Newton–Schulz iterations, ~3 products each
        t += steps * k["muon"] * 15 * sum(min(a, bb) * a * bb * m for a, bb, _, m in mats)
    logs = min(c.n_logs, steps)
    rows = c.n_test + (c.n_train or 0)
    per_log = k["eval_mac"] * rows * (entries - emb) + k["vocab"] * rows * vocab
    if getattr(c, "rank_metrics", True):
        per_log += k["eig"] * cubic
    return float(t + logs * per_log)
