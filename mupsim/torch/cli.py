"""``mupsim diagnose CKPT...``: registered by :mod:`mupsim.cli`; torch is imported only for .pt files."""

from __future__ import annotations

import json
import math

from mupsim.errors import MupsimError


def _ints(text):
    out = []
    for t in text.split(","):
        try:
            v = int(t)
        except ValueError:
            raise MupsimError(f"--width must be comma-separated positive integers, got {text!r}") from None
        if v <= 0:
            raise MupsimError(f"--width must be comma-separated positive integers, got {text!r}")
        out.append(v)
    return out


def _strict(obj):
    """``obj`` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _cmd_diagnose(args) -> int:
    from mupsim.torch.diagnose import diagnose

    if args.format not in ("table", "json"):
        raise MupsimError(f"unknown format {args.format!r}; allowed: table, json")
    widths = None if args.width is None else _ints(args.width)
    settings = None if args.settings is None else args.settings.split(",")
    if args.plot:  # checked before the checkpoints are read
        import os

        from mupsim.sim.files import check_folder, check_output_file

        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder):
            raise MupsimError(f"--plot {args.plot}: folder {folder} does not exist")
        check_folder(folder, "--plot")
        check_output_file(args.plot, "--plot")  # a device, FIFO or folder there is refused
    d = diagnose(args.checkpoints, widths, settings)
    if args.plot:
        d.plot(args.plot)
    if args.format == "json":
        print(json.dumps(_strict(d.to_dict()), indent=1, allow_nan=False))
    else:
        print(d.table())
    return 0


def add_subcommands(sub) -> None:
    p = sub.add_parser(
        "diagnose",
        help="spectral diagnostic of checkpoints: sigma_max, RMS, stable rank, "
        "alpha across widths and the weight-decay rule it implies",
    )
    p.add_argument(
        "checkpoints", nargs="+", metavar="CKPT", help=".safetensors (no torch needed) or .pt state_dicts"
    )
    p.add_argument(
        "--width",
        default=None,
        metavar="N1,N2,...",
        help="one width per checkpoint (default: from <stem>.mupsim.json, else inferred from shapes)",
    )
    p.add_argument(
        "--settings",
        default=None,
        metavar="S1.json,...",
        help="one settings file per checkpoint (default: <stem>.mupsim.json when present)",
    )
    p.add_argument("--format", default="table", help="table (default) or json")
    p.add_argument(
        "--plot", default=None, metavar="FILE", help="write sigma_max and stable rank vs width (PNG)"
    )
    p.set_defaults(func=_cmd_diagnose)
