"""Transfer check: does the (η, λ) tuned at the base width stay optimal at larger widths, per rule?

:func:`transfer_check` trains the user's model at every (rule, width, lr, wd, seed) cell with the
bridge's parameter groups (:func:`mupsim.torch.param_groups`, init by
:func:`mupsim.torch.rescale_init_`, forward multipliers by :func:`mupsim.torch.apply_multipliers`)
and stores each run's held-out loss; :mod:`mupsim.torch.transfer_report` turns the store into the
report (per-seed optima and their drift per width doubling with seed-bootstrap intervals,
heatmaps, ``diagnose`` on the best cell's checkpoints).

One run (in a worker): ``torch.manual_seed(seed)``; ``model = make_model(width)``; init rescaled,
multipliers installed, groups built against ``make_model(base_width)`` (seed 0) and a
``make_model(2·base_width)`` on the meta device (which dimensions scale); model moved to the device
(CUDA when available, unless ``device=``); ``torch.manual_seed(seed)`` again (so a trainer drawing
batches from torch's generator sees the same batches at every width); ``loss = train(model,
optimizers, data, steps)``. ``lr``/``wd`` are the values at the base width; ``wd`` is decoupled
(AdamW's λ; the hidden matrices' relaxation time is 1/(2·η_l·λ_l) steps).

Store (``out_dir/runs/<key>.json``, the sweep store's semantics): ``key`` = 16 hex digits of SHA-1
of the run's canonical config (entry-point names, data fingerprint, width, base width, lr, wd,
seed, rule, α, optimizer and its keywords, overrides, steps, ``tag``); written atomically by the
calling process only, with provenance (versions, commit, date, device, wall time) and the hidden
matrices' η_l, λ_l. A stored run is reused only when its config equals the requested one (and
it has the checkpoint when checkpoints are asked for); a run whose loss is not finite is stored
as ``diverged`` (loss +inf in the report); a run that raised is stored as ``error`` and rerun on
resume. The key hashes *names*, not code: change ``tag`` when the model, trainer or data code
changes. Checkpoints (``out_dir/ckpt/<key>.safetensors`` + ``.mupsim.json`` settings, float32) are
written by the calling process before the run's record, so a record never points to a missing or
partial checkpoint.

Executors: ``workers=0`` runs in this process; ``workers=N`` a local process pool ("spawn",
one torch thread per worker); ``executor=`` any ``concurrent.futures.Executor`` (e.g. Dask's
``Client.get_executor()``), which then needs picklable ``make_model``/``train``/``data`` (module-level
functions, or ``"module:function"`` entry points, resolved in the worker). Ctrl-C (SIGINT) or
SIGTERM: pending runs are cancelled, in-flight runs abandoned (our own pool's workers killed), and
:class:`TransferInterrupted` (a ``KeyboardInterrupt``) is raised; stored runs survive and a rerun
resumes without recomputing them.

Why one module over 600 lines: the run, its store and its executors are one protocol. The store
key, the config a stored run is compared with, the checkpoint-before-record write order and the
resume-on-error rule are decided together by :func:`run_one`, :func:`load_run` and the private
store/executor helpers, and :func:`transfer_check` validates its inputs against that same config;
the report already lives apart (:mod:`mupsim.torch.transfer_report`). Splitting the store from
the runner would expose private invariants across modules without making either reusable.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as _dt
import functools
import hashlib
import importlib
import inspect
import json
import math
import multiprocessing as mp
import os
import platform
import signal
import tempfile
import time
import traceback
from pathlib import Path

from mupsim.errors import MupsimError, choice
from mupsim.theory import wd_rules

RULES = tuple(n for n, r in wd_rules.WD_RULES.items() if r.kind != "epoch")
"""Rules the check runs: every rule whose λ follows from the widths alone (an epoch rule also needs
batch and data sizes, which a grid over (η, λ) at one batch size does not vary)."""
OPTIMIZERS = ("adamw", "adam", "sgd", "muon")
SCHEMA = 1


class TransferInterrupted(KeyboardInterrupt):
    """Raised when a transfer check is stopped by SIGINT/SIGTERM; its runs so far are stored.

    Attributes:
        done: runs stored.
        total: runs asked for.
        out_dir: the store.
    """

    def __init__(self, done: int, total: int, out_dir) -> None:
        super().__init__(f"interrupted: {done} of {total} runs stored in {out_dir}; rerun to resume")
        self.done, self.total, self.out_dir = done, total, out_dir


# ---------------------------------------------------------------------------- entry points
def resolve(spec, what: str):
    """A callable from ``"package.module:function"`` (dots after the colon walk attributes).

    Args:
        spec: an entry point, or a callable (returned as it is).
        what: its role, for the message (e.g. "make_model").

    Returns:
        The callable.

    Raises:
        MupsimError: a malformed entry point, a module that does not import, a missing
            attribute, or something not callable.

    Examples:
        >>> resolve("math:sqrt", "train")(16.0)
        4.0
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise MupsimError(f"{what} must be a callable or 'package.module:function', got {spec!r}")
    mod, attr = spec.split(":")
    try:
        obj = importlib.import_module(mod)
    except ImportError as e:
        raise MupsimError(f"{what} {spec!r}: cannot import module {mod!r} ({e})") from None
    for a in attr.split("."):
        if not hasattr(obj, a):
            raise MupsimError(f"{what} {spec!r}: module {mod!r} has no attribute {attr!r}")
        obj = getattr(obj, a)
    if not callable(obj):
        raise MupsimError(f"{what} {spec!r} is not callable")
    return obj


def _name(obj, what: str) -> str:
    """A stable name for a callable or entry point (part of the run key)."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, functools.partial):
        parts = (
            [_name(obj.func, what)]
            + [repr(a) for a in obj.args]
            + [f"{k}={v!r}" for k, v in sorted(obj.keywords.items())]
        )
        return f"partial({', '.join(parts)})"
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj) or isinstance(obj, type):
        mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "<")
        if mod and "<" not in qual:
            return f"{mod}:{qual}"
    else:  # a callable instance whose class gives it a repr (its parameters)
        cls = type(obj)
        if cls.__repr__ is not object.__repr__ and "<" not in cls.__qualname__:
            return f"{cls.__module__}:{obj!r}"
    raise MupsimError(
        f"{what} {obj!r} has no stable name (a lambda or local function); give a module-level "
        "function or a 'module:function' entry point"
    )


@functools.lru_cache(maxsize=4)
def _data_from(spec):
    return resolve(spec, "data")()


def _data(spec):
    """``spec`` itself, or what its entry point/callable returns (memoised per process)."""
    if spec is None:
        return None
    if isinstance(spec, str) or callable(spec):
        try:
            return _data_from(spec)
        except TypeError:  # unhashable callable
            return resolve(spec, "data")()
    return spec


def _data_id(spec):
    if spec is None:
        return None
    if isinstance(spec, str) or callable(spec):
        return {"entry": _name(spec, "data")}
    fp = getattr(spec, "fingerprint", None)
    return {"fingerprint": fp() if callable(fp) else None, "type": type(spec).__name__}


# ---------------------------------------------------------------------------- configs
def _grid(values, what: str, positive=True) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise MupsimError(f"{what} must be a list of numbers, got {values!r}") from None
    if not out or any(not math.isfinite(v) or (v <= 0 if positive else v < 0) for v in out):
        raise MupsimError(
            f"{what} must be a non-empty list of finite {'positive' if positive else 'non-negative'} "
            f"numbers, got {values!r}"
        )
    if len(set(out)) != len(out):
        raise MupsimError(f"{what} has repeated values: {values!r}")
    return sorted(out)


def _ints(values, what: str, lo: int) -> list[int]:
    out = []
    for v in values if isinstance(values, (list, tuple, range)) else [values]:
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise MupsimError(f"{what} must be integers >= {lo}, got {values!r}")
        out.append(int(v))
    if not out or len(set(out)) != len(out):
        raise MupsimError(f"{what} must be a non-empty list of distinct integers, got {values!r}")
    return sorted(out)


def run_key(config: dict) -> str:
    """16 hex digits of SHA-1 of the canonical (sorted-key) JSON of ``config``.

    Args:
        config: a run's config (JSON-able, no NaN).

    Returns:
        The key, the stem of the run's files in the store.

    Examples:
        >>> run_key({"width": 64, "lr": 0.01}) == run_key({"lr": 0.01, "width": 64})
        True
    """
    s = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha1(s.encode("utf-8")).hexdigest()[:16]


def configs(common: dict, widths, lrs, wds, seeds, rules, alpha=None) -> list[dict]:
    """Every run's config, rule-major then width, lr, wd, seed (the report's array order).

    Args:
        common: the keys every run shares.
        widths: the widths.
        lrs: the base learning rates.
        wds: the base weight decays.
        seeds: the seeds.
        rules: the weight-decay rules.
        alpha: the alignment exponent of rule ``alignment`` (None for the other rules).

    Returns:
        One dict per run.

    Examples:
        >>> [(c["rule"], c["width"]) for c in configs({}, [16, 32], [1e-3], [0.1], [0], ["constant"])]
        [('constant', 16), ('constant', 32)]
    """
    out = []
    for rule in rules:
        for w in widths:
            for lr in lrs:
                for wd in wds:
                    for s in seeds:
                        out.append(
                            dict(
                                common,
                                rule=rule,
                                width=w,
                                lr=lr,
                                wd=wd,
                                seed=s,
                                alignment_exponent=alpha if rule == "alignment" else None,
                            )
                        )
    return out


# ---------------------------------------------------------------------------- one run (worker side)
def _device(requested):
    import torch

    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _models(make_model, width, base_width, seed):
    import torch

    torch.manual_seed(0)
    base = make_model(base_width)
    try:
        with torch.device("meta"):
            delta = make_model(2 * base_width)
    except Exception:  # noqa: BLE001 - a factory that cannot build on meta: build it for real
        delta = make_model(2 * base_width)
    torch.manual_seed(seed)
    return make_model(width), base, delta


def run_one(job: dict) -> dict:
    """Train one cell (in a worker); the calling process stores the answer.

    Args:
        job: {"config": ..., "make_model", "train", "data", "save": bool, "device": str|None}.

    Returns:
        {loss, status, hidden, settings_text, tensors, wall_time_s, device, error}.
    """
    import numpy as np
    import torch

    from mupsim.torch import (
        apply_multipliers,
        make_optimizers,
        param_groups,
        rescale_init_,
        save_settings,
    )

    c = job["config"]
    t0 = time.time()
    out = {
        "loss": None,
        "status": "error",
        "hidden": None,
        "settings_text": None,
        "tensors": None,
        "device": None,
        "error": None,
    }
    try:
        if job.get("threads"):
            torch.set_num_threads(job["threads"])
        make_model, train = resolve(job["make_model"], "make_model"), resolve(job["train"], "train")
        data = _data(job["data"])
        model, base, delta = _models(make_model, c["width"], c["base_width"], c["seed"])
        rule = {
            "wd_rule": c["rule"],
            "alignment_exponent": c["alignment_exponent"],
            "optimizer": c["optimizer"],
            "overrides": c["overrides"] or None,
            "delta_model": delta,
        }
        rescale_init_(model, base, **rule)
        apply_multipliers(model, base, **rule)
        dev = _device(job.get("device"))
        model.to(dev)
        groups = param_groups(model, base, lr=c["lr"], wd=c["wd"], **rule)
        opts = make_optimizers(groups, **(c["optimizer_kwargs"] or {}))
        hidden = [(g["lr"], g["weight_decay"]) for g in groups if g["layer"] == "hidden"]
        out["hidden"] = {"lr": [h[0] for h in hidden], "wd": [h[1] for h in hidden]}
        torch.manual_seed(c["seed"])
        loss = float(train(model, opts, data, c["steps"]))
        out["device"] = str(dev)
        ok = math.isfinite(loss)
        out["loss"], out["status"] = (loss, "ok") if ok else (None, "diverged")
        if job.get("save") and ok:
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "s.json")
                save_settings(
                    p,
                    model,
                    groups,
                    width=c["width"],
                    rule=c["rule"],
                    lr=c["lr"],
                    wd=c["wd"],
                    seed=c["seed"],
                    steps=c["steps"],
                )
                out["settings_text"] = Path(p).read_text()
            out["tensors"] = {
                n: p.detach().float().cpu().numpy().astype(np.float32) for n, p in model.named_parameters()
            }
    except MupsimError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code failed: recorded, rerun on resume
        out["status"], out["error"] = "error", f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc(limit=8)
    out["wall_time_s"] = time.time() - t0
    return out


def _init_worker(threads: int, parent: int) -> None:
    """Pool worker set-up: ``threads`` BLAS threads, SIGINT ignored (the parent stops the pool),
    and exit when the parent process dies (the sweep's watcher)."""
    from mupsim.sim.sweep_exec import _exit_with_parent

    _exit_with_parent(parent)
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(
        {v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    )


# ---------------------------------------------------------------------------- the store
def _paths(out: Path, key: str) -> tuple[Path, Path, Path]:
    return (
        out / "runs" / f"{key}.json",
        out / "ckpt" / f"{key}.safetensors",
        out / "ckpt" / f"{key}.mupsim.json",
    )


def load_run(out_dir, config: dict, need_checkpoint: bool = False) -> dict | None:
    """The stored record of ``config``, if it can be reused.

    Args:
        out_dir: the store.
        config: the run's config.
        need_checkpoint: also require the run's checkpoint.

    Returns:
        The record if it is finished (ok/diverged), matches ``config``, and has its checkpoint
        when one is needed; else None.
    """
    out = Path(out_dir)
    rec_p, ck_p, st_p = _paths(out, run_key(config))
    try:
        rec = json.loads(rec_p.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("config") != json.loads(json.dumps(config)):
        return None
    if rec.get("status") not in ("ok", "diverged"):
        return None
    if need_checkpoint and rec["status"] == "ok" and not (ck_p.is_file() and st_p.is_file()):
        return None
    return rec


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in ("mupsim", "torch", "numpy", "transformers", "tokenizers"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def _store(out: Path, config: dict, res: dict) -> dict:
    from mupsim.sim.result import _atomic_write, _git_commit

    key = run_key(config)
    rec_p, ck_p, st_p = _paths(out, key)
    if res.get("tensors") is not None:
        from mupsim.torch.checkpoints import write_safetensors

        ck_p.parent.mkdir(parents=True, exist_ok=True)
        tmp = ck_p.with_name(f".{ck_p.name}.tmp")
        try:
            write_safetensors(tmp, res["tensors"])
            os.replace(tmp, ck_p)
        except BaseException:  # e.g. Ctrl-C while writing: leave nothing half-written
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _atomic_write(st_p.resolve(), lambda f: f.write(res["settings_text"].encode()))
    rec = {
        "schema": SCHEMA,
        "key": key,
        "config": config,
        "status": res["status"],
        "loss": res["loss"],
        "hidden": res["hidden"],
        "checkpoint": ck_p.name if res.get("tensors") is not None else None,
        "error": res.get("error"),
        "provenance": {
            "versions": _versions(),
            "git_commit": _git_commit(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "device": res.get("device"),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": res.get("wall_time_s"),
        },
    }
    if res["status"] == "error":
        rec["provenance"]["traceback"] = res.get("traceback")
    text = json.dumps(rec, indent=1, allow_nan=False)
    rec_p.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(rec_p.resolve(), lambda f: f.write(text.encode()))
    return rec


# ---------------------------------------------------------------------------- execution
def _execute(jobs, workers, executor, threads):
    """Yield (index, result) as runs finish."""
    if executor is None and workers == 0:
        for i, j in enumerate(jobs):
            yield i, run_one(j)
        return
    from mupsim.sim.sweep_exec import _children_ignore_sigint, _kill_pool

    own = executor is None
    ex, futs = executor, {}
    try:
        if own:
            with _children_ignore_sigint():
                ex = cf.ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=mp.get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(threads, os.getpid()),
                )
                futs = {ex.submit(run_one, j): i for i, j in enumerate(jobs)}
        else:
            futs = {ex.submit(run_one, j): i for i, j in enumerate(jobs)}
        for f in cf.as_completed(futs):
            i = futs[f]
            try:
                res = f.result()
            except MupsimError:
                raise
            except Exception as e:  # noqa: BLE001 - the worker died: not stored, rerun on resume
                res = {"status": "lost", "loss": None, "error": f"worker failed: {type(e).__name__}: {e}"}
            yield i, res
    except BaseException:
        for f in futs:
            f.cancel()
        if own:
            _kill_pool(ex)
        raise
    if own:
        ex.shutdown(wait=True)


def _check_out(out_dir) -> Path:
    from mupsim.sim.files import check_folder

    out = Path(os.path.abspath(os.fspath(out_dir)))
    if out.exists() and not out.is_dir():
        raise MupsimError(f"out_dir {str(out)!r} is a file; allowed: a folder (created if missing)")
    check_folder(out, "out_dir")
    return out


def transfer_check(
    make_model,
    train,
    widths,
    base_width,
    lrs,
    wds,
    seeds=(0,),
    rules=("constant", "fan2025", "timescale"),
    out_dir="transfer-check",
    *,
    data=None,
    steps: int = 200,
    alignment_exponent=None,
    optimizer: str = "adamw",
    optimizer_kwargs=None,
    overrides=None,
    tag=None,
    executor=None,
    workers: int = 0,
    threads: int = 1,
    device=None,
    checkpoints: bool = True,
    progress: bool = True,
    report: bool = True,
    plots: bool = True,
):
    """Run every (rule, width, lr, wd, seed) cell not yet stored in ``out_dir``; return the report.

    ``make_model(width) -> nn.Module``, ``train(model, optimizers, data, steps) -> held-out loss``
    (e.g. :func:`mupsim.lm.trainer.train`): callables or ``"module:function"`` entry points.
    ``data``: passed to ``train`` (an object, or a callable/entry point called once per process).
    ``lrs``/``wds``: the grid at the base width (any spacing; 2^½ is the usual one). ``rules``: weight-
    decay rules of the bridge (``alignment`` needs ``alignment_exponent``: a number in [1/2, 1], or
    ``"measured"``: α̂ from ``diagnose`` on the checkpoints of the first other rule's best cell,
    rounded to 0.05 and clipped to [1/2, 1]). ``wds`` are AdamW's coupled (lr-scaled) λ.

    Args:
        make_model: width → ``nn.Module`` (a module-level function or an entry point).
        train: (model, optimizers, data, steps) → held-out loss.
        widths: at least 2 distinct widths, ``base_width`` among them.
        base_width: the width the grid is tuned at.
        lrs: the learning-rate grid at the base width (positive).
        wds: the weight-decay grid at the base width (positive).
        seeds: one run per seed in each cell.
        rules: weight-decay rules (constant | fan2025 | timescale | alignment).
        out_dir: the store (see the module docstring).
        data: passed to ``train``.
        steps: training steps per run.
        alignment_exponent: α in [1/2, 1] or "measured" (rule ``alignment`` only).
        optimizer: adamw | adam | sgd | muon.
        optimizer_kwargs: passed to the optimizer constructors.
        overrides: as :func:`mupsim.torch.classify`.
        tag: part of the run key: change it when the model, trainer or data code changes.
        executor: a ``concurrent.futures.Executor``, or None.
        workers: 0 runs in this process, N a local process pool.
        threads: torch threads per worker.
        device: the torch device (default CUDA when available).
        checkpoints: write each run's weights (needed for ``diagnose`` and "measured").
        progress: print progress.
        report: build and write the report.
        plots: write the report's heatmaps.

    Returns:
        :class:`mupsim.torch.transfer_report.TransferReport` (None when ``report=False``).

    Raises:
        MupsimError: an invalid grid, rule, optimizer, width or executor, or an entry point
            that does not resolve.
        TransferInterrupted: on SIGINT/SIGTERM (stored runs survive; a rerun resumes).

    Examples:
        >>> import torch
        >>> import torch.nn as nn
        >>> def mlp(width):
        ...     return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 1))
        >>> def train(model, optimizers, data, steps):
        ...     x, y = data
        ...     for _ in range(steps):
        ...         loss = ((model(x) - y) ** 2).mean()
        ...         for o in optimizers:
        ...             o.zero_grad()
        ...         loss.backward()
        ...         for o in optimizers:
        ...             o.step()
        ...     with torch.no_grad():
        ...         return ((model(x) - y) ** 2).mean().item()
        >>> report = transfer_check(mlp, train, widths=[16, 32], base_width=16, lrs=[1e-3, 1e-2],
        ...                         wds=[0.1], rules=["constant"], data=(torch.ones(8, 4),
        ...                         torch.zeros(8, 1)), steps=3, checkpoints=False,
        ...                         progress=False, plots=False)
        >>> [(r.rule, r.n_runs, r.n_stored, r.n_diverged) for r in report.rules]
        [('constant', 4, 4, 0)]
    """
    widths = _ints(widths, "widths", 1)
    if isinstance(base_width, bool) or not isinstance(base_width, int) or base_width < 1:
        raise MupsimError(f"base_width must be a positive integer, got {base_width!r}")
    if base_width not in widths:
        raise MupsimError(f"base_width {base_width} must be one of the widths {widths}")
    if len(widths) < 2:
        raise MupsimError("a transfer check needs at least 2 widths")
    lrs, wds = _grid(lrs, "lrs"), _grid(wds, "wds")
    seeds = _ints(list(seeds), "seeds", 0)
    rules = [
        choice("weight-decay rule", r, RULES) for r in (rules if not isinstance(rules, str) else [rules])
    ]
    if len(set(rules)) != len(rules):
        raise MupsimError(f"rules repeated: {rules}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise MupsimError(f"steps must be a positive integer, got {steps!r}")
    optimizer = choice("optimizer", optimizer, OPTIMIZERS)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise MupsimError(f"workers must be an integer >= 0, got {workers!r}")
    if executor is not None and not isinstance(executor, cf.Executor):
        raise MupsimError(f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}")
    measured = alignment_exponent == "measured"
    if "alignment" in rules:
        if alignment_exponent is None:
            raise MupsimError("rule 'alignment' needs alignment_exponent: a number in [0.5, 1] or 'measured'")
        if measured and not any(r != "alignment" for r in rules):
            raise MupsimError("alignment_exponent='measured' needs another rule to measure alpha on")
        if measured and not checkpoints:
            raise MupsimError("alignment_exponent='measured' needs checkpoints=True (diagnose reads them)")
        if not measured:
            try:
                a = float(alignment_exponent)
            except (TypeError, ValueError):
                raise MupsimError(
                    f"alignment_exponent must be a number in [0.5, 1] or 'measured', "
                    f"got {alignment_exponent!r}"
                ) from None
            if not 0.5 <= a <= 1:
                raise MupsimError(f"alignment_exponent must lie in [0.5, 1], got {alignment_exponent!r}")
            alignment_exponent = a
    out = _check_out(out_dir)
    mm = resolve(make_model, "make_model")
    resolve(train, "train")
    common = {
        "schema": SCHEMA,
        "make_model": _name(make_model, "make_model"),
        "train": _name(train, "train"),
        "data": _data_id(data),
        "base_width": base_width,
        "steps": steps,
        "optimizer": optimizer,
        "optimizer_kwargs": dict(optimizer_kwargs or {}),
        "overrides": dict(overrides or {}),
        "tag": tag,
    }
    json.dumps(common, allow_nan=False)  # the config must be JSON
    _preflight(mm, base_width, widths, overrides)
    job_base = {
        "make_model": make_model,
        "train": train,
        "data": data,
        "save": checkpoints,
        "device": None if device is None else str(device),
        "threads": threads,
    }
    first = [r for r in rules if r != "alignment" or not measured]
    meta = {
        "widths": widths,
        "base_width": base_width,
        "lrs": lrs,
        "wds": wds,
        "seeds": seeds,
        "rules": first,
        "common": common,
        "alignment_exponent": None if measured else alignment_exponent,
    }
    _write_json(out / "transfer.json", meta)  # first, so that a report can be read from a partial store
    _run(
        configs(common, widths, lrs, wds, seeds, first, meta["alignment_exponent"]),
        out,
        job_base,
        workers,
        executor,
        checkpoints,
        progress,
    )
    if measured:
        from mupsim.torch.transfer_report import measure_alpha

        meta["alignment_exponent"] = measure_alpha(out, common, widths, lrs, wds, seeds, first[0])
        meta["rules"] = rules
        _write_json(out / "transfer.json", meta)
        _run(
            configs(
                common,
                widths,
                lrs,
                wds,
                seeds,
                ["alignment"],
                meta["alignment_exponent"]["alignment_exponent"],
            ),
            out,
            job_base,
            workers,
            executor,
            checkpoints,
            progress,
        )
    if not report:
        return None
    from mupsim.torch.transfer_report import build_report

    return build_report(out, plots=plots)


def _preflight(make_model, base_width, widths, overrides) -> None:
    """Build the base, delta and widest models' shapes (meta device) and classify them once, so that a
    bad factory or an ambiguous parameter is one error before any run starts."""
    import torch

    from mupsim.torch import classify

    try:
        torch.manual_seed(0)
        base = make_model(base_width)
        with torch.device("meta"):
            delta = make_model(2 * base_width)
            big = make_model(max(widths))
    except MupsimError:
        raise
    except Exception as e:  # noqa: BLE001
        raise MupsimError(f"make_model failed at width {base_width}: {type(e).__name__}: {e}") from None
    classify(big, base, overrides, delta)


def _write_json(path: Path, doc) -> None:
    from mupsim.sim.result import _atomic_write

    text = json.dumps(doc, indent=1, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda f: f.write(text.encode()))


def _run(cfgs, out: Path, job_base: dict, workers, executor, checkpoints: bool, progress: bool) -> None:
    from tqdm.auto import tqdm

    from mupsim.sim.sweep_exec import stop_on_signals

    todo, seen = [], set()
    for c in cfgs:
        k = run_key(c)
        if k not in seen and load_run(out, c, checkpoints) is None:
            todo.append(c)
        seen.add(k)
    if not todo:
        return
    (out / "runs").mkdir(parents=True, exist_ok=True)
    jobs = [dict(job_base, config=c) for c in todo]
    bar = tqdm(total=len(todo), desc="transfer-check", unit="run", disable=not progress, dynamic_ncols=True)
    counts = {"diverged": 0, "error": 0}
    stored = len(seen) - len(todo)
    try:
        with (
            stop_on_signals(),
            contextlib.closing(_execute(jobs, workers, executor, job_base["threads"])) as it,
        ):
            for i, res in it:
                if res["status"] != "lost":
                    _store(out, todo[i], res)
                    stored += res["status"] != "error"
                if res["status"] in counts:
                    counts[res["status"]] += 1
                    bar.set_postfix(counts, refresh=False)
                bar.update(1)
    except KeyboardInterrupt:
        raise TransferInterrupted(stored, len(seen), out) from None
    finally:
        bar.close()
