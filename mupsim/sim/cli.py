"""``mupsim simulate`` and ``mupsim sweep`` subcommands.

The top-level ``mupsim/cli.py`` calls :func:`add_subcommands` on its argparse subparsers object and
dispatches to ``args.func(args)`` (an int exit code). Bad input raises MupsimError, which the top
level turns into one line on stderr and exit status 2.

* ``mupsim simulate [--config FILE.json] [--width N --lr X ... every SimConfig field as a
  --kebab-case option] [--format table|json] [--out STEM]`` runs one config and prints the final
  diagnostics. Options given on the command line override ``--config``, which overrides the
  SimConfig defaults. Booleans: ``--bias/--no-bias``; optional values accept ``none``.
* ``mupsim sweep SPEC.json --out DIR [--workers K] [--executor local|dask] [--scheduler ADDRESS]
  [--backend numba|ensemble] [--no-progress]`` runs a sweep spec (see :mod:`mupsim.sim.sweep`)
  into DIR, skipping configs already there, and writes DIR/table.csv (skipped with a warning if
  DIR is read-only). Exit status 1 if any run raised (status "error"), else 0; Ctrl-C/SIGTERM
  stop it with one line on stderr and exit status 130/143 (128 + signal number).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import fields
from pathlib import Path

from mupsim.cli import float_text, int_text
from mupsim.errors import MupsimError, rational, show
from mupsim.sim import config as _cfg
from mupsim.sim.config import SimConfig
from mupsim.sim.files import check_result_stem, output_target, read_json

# fields whose default is None: their value type
_OPTIONAL_TYPES = {
    "teacher_rank": int,
    "n_train": int,
    "wd_rule": str,
    "io_wd_rule": str,
    "alignment_exponent": float,
    "teacher_decay": float,
    "context": int,
    "logit_scale": float,
}

_HELP = {
    "width": "model width n",
    "base_width": "proxy width n0 the lr/wd were tuned at",
    "input_dim": "input dimension k",
    "depth": "residual blocks (normalized) / hidden layers (linear)",
    "ffn_ratio": "W1 is r*n x n",
    "lr": "base learning rate (at base_width)",
    "wd": "base weight decay (at base_width)",
    "teacher_rank": "None = full rank",
    "n_train": "finite training set size; none = fresh batches every step",
    "multipliers": "3 multiplier exponents a (x of n^-x) for embedding, hidden, readout: A_IN,A_HID,A_OUT, or none",
    "n_logs": "number of log-spaced logging steps (incl. 0 and the last)",
    "alignment": "full, none, or an exponent in [0.5, 1]",
    "decay_fraction": "fraction of steps spent decaying (wsd schedule)",
    "inputs": "gaussian (N(0, diag(i^-s))) or tokens (one-hot, Zipfian, vocabulary input_dim)",
    "input_spectrum": "s >= 0: input covariance eigenvalues ~ i^-s, mean 1 (gaussian inputs)",
    "zipf_exponent": "z >= 0: P(token i) ~ i^-z (tokens inputs)",
    "teacher_width_exponent": "rho >= 0: teacher width and rank ~ (width/base_width)^rho",
    "teacher_decay": "q >= 0: teacher singular values ~ i^-q; none = Gaussian",
    "task": "next_token needs --inputs tokens, --context C and --input-dim C*V (vocabulary V = --output-dim)",
    "context": "C >= 2: previous tokens of --task next_token (input_dim = C*output_dim)",
    "logit_scale": "beta > 0: the next-token teacher's logits beta*f(x); none = the default "
    f"{_cfg.DEFAULT_LOGIT_SCALE} (task next_token only)",
    "rank_metrics": "compute stable_rank, effective_rank, sv1..sv4 at every log (all singular "
    "values: costly at large widths); --no-rank-metrics leaves them NaN, nothing else changes",
}


def add_subcommands(subparsers) -> None:
    """Register ``simulate`` and ``sweep`` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "simulate",
        help="run one simulation and print final diagnostics",
        description="Run one simulation (numba) and print final losses and per-matrix "
        "diagnostics. Every SimConfig field is an option.",
    )
    p.add_argument("--config", metavar="FILE", help="JSON file of SimConfig fields (base values)")
    _add_config_options(p)
    p.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format (default: table)"
    )
    p.add_argument("--out", metavar="STEM", help="also save the Result to STEM.npz/STEM.json")
    p.set_defaults(func=cmd_simulate)

    s = subparsers.add_parser(
        "sweep",
        help="run a sweep spec into a folder (resumes)",
        description="Run every config of a JSON sweep spec {name, base, grid, zip} in parallel "
        "processes; results go to DIR/<key>.npz/.json, existing ones are skipped.",
    )
    s.add_argument("spec", metavar="SPEC", help="sweep spec JSON file")
    s.add_argument("--out", required=True, metavar="DIR", help="result folder")
    s.add_argument(
        "--workers",
        type=_nonneg_int,
        default=None,
        metavar="K",
        help="worker processes (default: CPU count; 0 = in this process); with "
        "--executor dask: LocalCluster workers",
    )
    s.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local processes (default) or Dask (a LocalCluster unless --scheduler)",
    )
    s.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="address of a running Dask scheduler, e.g. tcp://HOST:8786 (with --executor dask)",
    )
    s.add_argument(
        "--backend",
        choices=("numba", "ensemble"),
        default="numba",
        help="numba loop per run (default) or the stacked ensemble backend",
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_sweep)


def _add_config_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulation config (SimConfig fields)")
    for f in fields(SimConfig):
        opt = "--" + f.name.replace("_", "-")
        default = f.default
        help_ = _HELP.get(f.name, "")
        if f.name in _cfg._CHOICES:
            help_ = (help_ + "; " if help_ else "") + "one of " + ", ".join(_cfg._CHOICES[f.name][1])
        if f.name == "wd_rule":
            help_ = "one of " + ", ".join(_cfg.WD_RULES) + ", none"
        if f.name == "io_wd_rule":
            help_ = (
                "wd rule of the embedding and readout only (overrides wd_rule's for them; "
                "needs wd > 0 and a wd rule): one of " + ", ".join(_cfg.WD_RULES) + ", none"
            )
        help_ = f"{help_} (default: {default})" if help_ else f"(default: {default})"
        kw = dict(dest=f.name, default=argparse.SUPPRESS, help=help_)
        if isinstance(default, bool):
            g.add_argument(opt, action=argparse.BooleanOptionalAction, **kw)
        elif f.name == "multipliers":
            g.add_argument(opt, nargs="+", type=str, metavar="A", **kw)
        elif f.name in _OPTIONAL_TYPES:
            g.add_argument(
                opt,
                type=_optional(_OPTIONAL_TYPES[f.name]),
                metavar=_OPTIONAL_TYPES[f.name].__name__.upper(),
                **kw,
            )
        elif isinstance(default, int):
            g.add_argument(opt, type=int_text, metavar="N", **kw)
        elif isinstance(default, float):
            g.add_argument(opt, type=float_text, metavar="X", **kw)
        else:
            g.add_argument(opt, type=str, metavar="NAME", **kw)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """SimConfig from ``--config`` (if any) overridden by explicit options."""
    d: dict = {}
    if getattr(args, "config", None) is not None:
        if not args.config.strip():
            raise MupsimError(f"--config needs a JSON file name, got {args.config!r}")
        path = Path(args.config)
        d = read_json(path, "config file")
        if not isinstance(d, dict):
            raise MupsimError(f"config file {path} must hold a JSON object of SimConfig fields")
    for f in fields(SimConfig):
        if hasattr(args, f.name):
            d[f.name] = getattr(args, f.name)
    if hasattr(args, "multipliers"):  # command-line text; a config file's JSON list is SimConfig's
        d["multipliers"] = parse_multipliers_option(args.multipliers)
    return SimConfig.from_dict(d)


def parse_multipliers_option(tokens) -> tuple | None:
    """``--multipliers`` values: one ``A_IN,A_HID,A_OUT`` string, three separate values, or
    ``none``. Commas separate; spaces around a number are ignored, spaces inside one are an
    error (``"0 1,0,0"`` is refused, as ``mupsim transfer`` does). Values are exponents a of
    n^-a, parsed like the calculator's (integers, decimals or fractions such as 1/2)."""
    parts = [p.strip() for t in tokens for p in str(t).split(",")]
    parts = [p for p in parts if p]
    if len(parts) == 1 and parts[0].lower() == "none":
        return None
    if len(parts) != 3:
        raise MupsimError(
            "--multipliers takes 3 exponents A_IN,A_HID,A_OUT or 'none'; "
            f"got {len(parts)}: {' '.join(map(str, tokens))!r}"
        )
    return tuple(float(rational(p, "--multipliers value")) for p in parts)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Handler of ``mupsim simulate``."""
    cfg = config_from_args(args)
    stem = check_result_stem(args.out, "--out") if args.out is not None else None
    from mupsim.sim import run

    result = run(cfg)
    if stem is not None:
        result.save(stem)
    summary = summarize(result, cfg)
    if args.format == "json":
        print(json.dumps(_nan_to_none(summary), indent=1, allow_nan=False))
    else:
        print(format_table(summary))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Handler of ``mupsim sweep``."""
    import signal

    from mupsim.sim.sweep import expand_spec, load_spec, sweep, table, write_table

    if args.scheduler is not None and args.executor != "dask":
        raise MupsimError("--scheduler needs --executor dask")
    if not args.spec.strip():
        raise MupsimError(f"SPEC needs a sweep spec file name, got {args.spec!r}")
    spec = load_spec(args.spec)
    configs = expand_spec(spec)
    if not args.out.strip():
        raise MupsimError(f"--out needs a folder name; got {args.out!r}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise MupsimError(f"--out {out} exists and is not a folder")
    output_target(out / "table.csv", "table")  # a folder or FIFO there: refused before any run
    try:
        results = sweep(
            configs,
            out,
            workers=args.workers,
            progress=not args.no_progress,
            executor=args.executor,
            scheduler=args.scheduler,
            backend=args.backend,
        )
    except KeyboardInterrupt as e:  # SweepInterrupted (SIGINT/SIGTERM), or a Ctrl-C before it
        for sig in (signal.SIGINT, signal.SIGTERM):  # exiting: no second traceback
            signal.signal(sig, signal.SIG_IGN)
        # the killed pool's helper threads may race the interpreter's exit; their "Exception
        # ignored" reports are noise once the workers are dead
        sys.unraisablehook = lambda unraisable: None
        print(f"mupsim: {e}" if str(e) else "mupsim: interrupted", file=sys.stderr)
        return 128 + int(getattr(e, "signum", signal.SIGINT))
    n = len({c.key() for c in configs})
    counts = {
        s: sum(r.status == s for r in {c.key(): r for c, r in zip(configs, results)}.values())
        for s in ("ok", "diverged", "error")
    }
    try:
        table_path = write_table(table(results), out / "table.csv")
        where = f"table: {table_path}"
    except OSError as e:  # e.g. a complete sweep on read-only media: the results are all there
        print(
            f"mupsim: warning: cannot write {out / 'table.csv'} ({e.strerror or e}); the "
            f"results are complete",
            file=sys.stderr,
        )
        where = "no table written"
    print(
        f"sweep {spec['name']!r}: {n} configs in {out} - ok {counts['ok']}, "
        f"diverged {counts['diverged']}, error {counts['error']}; {where}"
    )
    if counts["error"]:
        first = next(r for r in results if r.status == "error")
        print(f"first error: {first.provenance.get('error')}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------- output
_SUMMARY_METRICS = ("rms", "sigma_max", "gain", "update_rms", "stable_rank", "effective_rank")


def summarize(result, cfg: SimConfig | None = None) -> dict:
    """Final diagnostics of a Result as a plain dict."""
    mats = {}
    for name in result.matrix_names:
        mats[name] = {m: result.final(m, name) for m in _SUMMARY_METRICS if m in result.matrix}
    out = {
        "key": cfg.key() if cfg is not None else result.key,
        "status": result.status,
        "diverged_step": result.diverged_step,
        "steps": int(result.steps[-1]) if result.steps.size else 0,
        "final_train_loss": result.final("train_loss"),
        "final_test_loss": result.final("test_loss"),
        "wall_time_s": result.provenance.get("wall_time_s"),
        "matrices": mats,
    }
    if "teacher_entropy" in result.provenance:  # next-token task: the floor of the held-out loss
        out["teacher_entropy"] = result.provenance["teacher_entropy"]
    return out


def format_table(summary: dict) -> str:
    lines = [
        f"config {summary['key']}  status {summary['status']}"
        + (f" (diverged at step {summary['diverged_step']})" if summary["diverged_step"] is not None else "")
        + f"  steps {summary['steps']}"
        + (f"  wall {summary['wall_time_s']:.2f}s" if summary.get("wall_time_s") else ""),
        f"final train loss {_fmt(summary['final_train_loss'])}   "
        f"test loss {_fmt(summary['final_test_loss'])}"
        + (f"   teacher entropy {_fmt(summary['teacher_entropy'])}" if "teacher_entropy" in summary else ""),
    ]
    mats = summary["matrices"]
    if mats:
        cols = _SUMMARY_METRICS
        w = max(len("matrix"), *(len(n) for n in mats))
        lines.append(f"{'matrix':<{w}}  " + "  ".join(f"{c:>11}" for c in cols))
        for n, vals in mats.items():
            lines.append(f"{n:<{w}}  " + "  ".join(f"{_fmt(vals.get(c)):>11}" for c in cols))
    return "\n".join(lines)


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return f"{x:.4g}"


def _nan_to_none(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_nan_to_none(v) for v in o]
    return o


# ---------------------------------------------------------------------- arg types
def _optional(t):
    parse = {int: int_text, float: float_text}.get(t, t)

    def conv(s: str):
        if s.strip().lower() == "none":
            return None
        return parse(s)

    conv.__name__ = t.__name__
    return conv


def _nonneg_int(s: str) -> int:
    v = int_text(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {show(v)}")
    return v


_nonneg_int.__name__ = "int"
