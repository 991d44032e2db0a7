"""``mupsim transfer-check``: registered by :mod:`mupsim.cli`; torch is imported only when it runs."""

from __future__ import annotations

import json
import sys

from mupsim.errors import MupsimError


def _list(text: str, what: str, kind=float) -> list:
    try:
        out = [kind(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise MupsimError(
            f"{what} must be comma-separated {'integers' if kind is int else 'numbers'}, got {text!r}"
        ) from None
    if not out:
        raise MupsimError(f"{what} is empty; give comma-separated values")
    return out


def _overrides(items) -> dict:
    out = {}
    for it in items or []:
        pat, sep, kind = it.partition("=")
        if not sep or not pat or not kind:
            raise MupsimError(f"--override must be PATTERN=KIND, got {it!r}")
        out[pat] = kind
    return out


def _cmd_transfer_check(args) -> int:
    from mupsim.torch.transfer import TransferInterrupted, transfer_check

    widths = _list(args.widths, "--widths", int)
    alpha = args.alignment_exponent
    if alpha is not None and alpha != "measured":
        alpha = _list(alpha, "--alignment-exponent")[0]
    executor, client = None, None
    if args.scheduler is not None:
        try:
            from dask.distributed import Client
        except ImportError:
            raise MupsimError("--scheduler needs dask[distributed]: pip install 'mupsim[dask]'") from None
        try:
            client = Client(args.scheduler, timeout=30)
        except (OSError, TimeoutError, ValueError, TypeError) as e:
            raise MupsimError(
                f"cannot connect to the Dask scheduler at {args.scheduler!r}: {type(e).__name__}: {e}"
            ) from None
        executor = client.get_executor()
    try:
        rep = transfer_check(
            args.model,
            args.train,
            widths,
            args.base_width if args.base_width else min(widths),
            _list(args.lr_grid, "--lr-grid"),
            _list(args.wd_grid, "--wd-grid"),
            _list(args.seeds, "--seeds", int),
            _list(args.rules, "--rules", str),
            args.out,
            data=args.data,
            steps=args.steps,
            alignment_exponent=alpha,
            optimizer=args.optimizer,
            overrides=_overrides(args.override),
            tag=args.tag,
            executor=executor,
            workers=args.workers,
            threads=args.threads,
            device=args.device,
            checkpoints=not args.no_checkpoints,
            progress=not args.quiet,
            plots=not args.no_plots,
        )
    except TransferInterrupted as e:
        print(f"mupsim: {e}", file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
    print(json.dumps(rep.to_dict(), indent=1) if args.format == "json" else rep.table())
    return 0


def add_subcommands(sub) -> None:
    p = sub.add_parser(
        "transfer-check",
        help="train a model over widths x (lr, wd) x seeds x weight-decay rules with "
        "the bridge's groups; report each rule's optimum drift per doubling",
    )
    p.add_argument("--model", required=True, metavar="MOD:FN", help="model factory: width -> torch.nn.Module")
    p.add_argument(
        "--train",
        default="mupsim.lm.trainer:train",
        metavar="MOD:FN",
        help="train(model, optimizers, data, steps) -> held-out loss (default: the causal-LM trainer)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="MOD:FN",
        help="called once per process; its value is train's data (e.g. mupsim.lm.corpus:stdlib_bytes)",
    )
    p.add_argument("--widths", required=True, metavar="N1,N2,...")
    p.add_argument(
        "--base-width", type=int, default=None, help="width the grid is tuned at (default: the smallest)"
    )
    p.add_argument("--lr-grid", required=True, metavar="LR1,LR2,...", help="learning rates at the base width")
    p.add_argument("--wd-grid", required=True, metavar="WD1,WD2,...", help="weight decays at the base width")
    p.add_argument("--seeds", default="0", metavar="S1,S2,...")
    p.add_argument(
        "--rules",
        default="constant,fan2025,timescale",
        metavar="R1,R2,...",
        help="weight-decay rules: constant, fan2025, timescale, alignment",
    )
    p.add_argument(
        "--alignment-exponent",
        default=None,
        metavar="ALPHA|measured",
        help="for rule alignment: a number in [0.5, 1], or 'measured' (diagnose on the first rule's best cell)",
    )
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--optimizer", default="adamw", help="adamw (default), adam, sgd, muon")
    p.add_argument(
        "--override", action="append", metavar="PATTERN=KIND", help="layer class of matching parameters"
    )
    p.add_argument(
        "--tag", default=None, help="free text in every run's key: change it when your code changes"
    )
    p.add_argument("--workers", type=int, default=0, help="local worker processes (0 = this process)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on the Dask cluster at ADDRESS")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--no-checkpoints", action="store_true", help="do not keep final weights (no diagnose)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the heatmaps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--format", default="table", choices=("table", "json"))
    p.add_argument(
        "--out", required=True, metavar="DIR", help="the store: runs/, ckpt/, report.json, heatmaps"
    )
    p.set_defaults(func=_cmd_transfer_check)
