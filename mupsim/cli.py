"""Command-line interface: ``mupsim exponents | transfer | simulate | sweep``.

Bad input prints one line ``mupsim: error: ...`` on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from mupsim.errors import MupsimError


class _Parser(argparse.ArgumentParser):
    # values that start with a minus sign and a digit are values, not options, so that
    # `--multipliers -1,0,0`, `--layer-alignment ...` and `--lr -1` reach their checks
    # (argparse's own pattern accepts only a plain negative number); -inf and -nan too, to be
    # refused by the range checks
    _NEGATIVE_VALUE = re.compile(r"^-\.?\d[\d.,;/eE+\- ]*$|^-(inf|infinity|nan)$", re.IGNORECASE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = self._NEGATIVE_VALUE

    def error(self, message):  # one line, exit 2
        raise MupsimError(message)


def _fmt(x) -> str:
    if x is None:
        return "—"
    if hasattr(x, "denominator"):
        return str(x)
    return f"{x:.6g}"


def _add_rule_options(p):
    from mupsim.calculator import DEPTH_RULES, OPTIMIZERS, PARAMETERIZATIONS
    from mupsim.theory import wd_rules as _wd_rules

    p.add_argument("--parameterization", default="mup", help=f"{', '.join(PARAMETERIZATIONS)} (default mup)")
    p.add_argument("--optimizer", default="adamw", help=f"{', '.join(OPTIMIZERS)} (default adamw)")
    p.add_argument(
        "--alignment", default="full", help="full, none, or an exponent in [1/2, 1] (default full)"
    )
    p.add_argument(
        "--multipliers",
        default=None,
        metavar="A_IN,A_HID,A_OUT",
        help="fix the gauge: multiplier exponents a for embedding, hidden, readout",
    )
    p.add_argument("--wd-rule", default=None, metavar="RULE", help=_wd_rules.help_text())
    p.add_argument(
        "--alignment-exponent",
        default=None,
        metavar="ALPHA",
        help="alpha in sigma_max ~ RMS n^alpha, for --wd-rule alignment",
    )
    p.add_argument("--depth-rule", default=None, help=" or ".join(DEPTH_RULES))
    p.add_argument(
        "--depth-alpha",
        default=None,
        metavar="ALPHA_L",
        help="alpha_L in [1/2, 1] for --depth-rule completep (default 1)",
    )
    p.add_argument(
        "--muon-convention",
        default="spectral",
        help="spectral (lr = spectral norm of the step, default) or rms (Moonlight: 0.2*sqrt(max dim))",
    )
    p.add_argument(
        "--solver",
        default="program",
        help="program (Everett et al.'s linear program, default) or greedy (readout-first solve)",
    )
    p.add_argument(
        "--layer-alignment",
        default=None,
        metavar="LAYER=A,W,U[;...]",
        help="per-layer alignment exponents (alpha, omega, u), e.g. 'hidden=3/4,1/2,3/4;readout=1,1/2,1'",
    )
    p.add_argument("--format", default="table", choices=None, help="table (default) or json")
    p.add_argument(
        "--explain",
        action="store_true",
        help="print the derivation behind every number (with --format json: an 'explanation' key)",
    )


def _layer_alignment(text):
    """'hidden=3/4,1/2,3/4;readout=1,1/2,1' → {layer: (alpha, omega, u)} (strings, parsed by the calculator)."""
    if text is None:
        return None
    out = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        layer, sep, vals = part.partition("=")
        if not sep:
            raise MupsimError(f"--layer-alignment: expected LAYER=ALPHA,OMEGA,U, got {part!r}")
        if layer.strip() in out:
            raise MupsimError(
                f"--layer-alignment: layer {layer.strip()!r} is given twice; give each layer once"
            )
        out[layer.strip()] = tuple(v.strip() for v in vals.split(","))
    if not out:
        raise MupsimError(f"--layer-alignment: expected LAYER=ALPHA,OMEGA,U[;...], got {text!r}")
    return out


def _rule_kwargs(args) -> dict:
    return dict(
        parameterization=args.parameterization,
        optimizer=args.optimizer,
        alignment=args.alignment,
        multipliers=args.multipliers,
        wd_rule=args.wd_rule,
        alignment_exponent=args.alignment_exponent,
        solver=args.solver,
        layer_alignment=_layer_alignment(args.layer_alignment),
        depth_alpha=args.depth_alpha,
        muon_convention=args.muon_convention,
    )


def _check_format(args):
    if args.format not in ("table", "json"):
        raise MupsimError(f"unknown format {args.format!r}; allowed: table, json")


def _table(header, rows) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _cmd_exponents(args) -> int:
    from mupsim.calculator import exponents

    _check_format(args)
    e = exponents(depth_rule=args.depth_rule, **_rule_kwargs(args))
    if args.format == "json":
        d = e.to_dict()
        if args.explain:
            d["explanation"] = e.explain()
        print(json.dumps(d, indent=2, allow_nan=False))
        return 0
    else:
        print(
            f"{e.parameterization.upper()} · {e.optimizer} · alignment {e.alignment}"
            + (f" · wd rule {e.wd_rule}" if e.wd_rule else "")
            + f" · solver {e.solver}"
            + (f" · per-layer alignment {args.layer_alignment}" if args.layer_alignment else "")
            + "   (exponent x of n^-x; W = n^-a w, w0 ~ N(0, n^-2b), lr ∝ n^-c, wd ∝ n^-w)"
        )
        rows = [
            [l, _fmt(x.multiplier), _fmt(x.init_std), _fmt(x.lr), _fmt(x.wd), _fmt(x.eps)]
            for l, x in e.layers.items()
        ]
        print(_table(["layer", "multiplier a", "init std b", "lr c", "wd w", "adam eps"], rows))
        if e.depth:
            print(
                f"depth ({e.depth['rule']}, x of (L/L_base)^-x): branch multiplier {e.depth['branch_multiplier']}, "
                f"block lr {e.depth['hidden_lr']}, block vector lr {e.depth['vector_lr']}, "
                f"block eps {_fmt(e.depth['block_eps'])}, block wd {_fmt(e.depth['hidden_wd'])}"
            )
    if args.explain:
        print()
        print(e.explain())
    return 0


def _cmd_transfer(args) -> int:
    from mupsim.calculator import transfer

    _check_format(args)
    s = transfer(
        args.base_width,
        args.width,
        args.lr,
        args.wd,
        depth_rule=args.depth_rule,
        base_depth=args.base_depth,
        depth=args.depth,
        eps=args.eps,
        batch_size=args.batch_size,
        base_batch_size=args.base_batch_size,
        tokens=args.tokens,
        base_tokens=args.base_tokens,
        steps=args.steps,
        base_steps=args.base_steps,
        **_rule_kwargs(args),
    )
    if s.horizon is not None and s.horizon["short"]:
        h = s.horizon
        print(
            "mupsim: warning: training is shorter than "
            f"{h['threshold']} relaxation times 1/(2·lr·wd) for {', '.join(h['short'])} ("
            + ", ".join(f"{l}: {h['relaxations'][l]:.2g}" for l in h["short"])
            + " relaxations in "
            + f"{h['steps']:.6g} steps); the steady state is not reached",
            file=sys.stderr,
        )
    if args.format == "json":
        d = s.to_dict()
        if args.explain:
            d["explanation"] = s.exponents.explain()
        print(json.dumps(d, indent=2, allow_nan=False))
        return 0
    else:
        e = s.exponents
        print(
            f"{e.parameterization.upper()} · {e.optimizer} · width {s.base_width} → {s.width}"
            + (f" · wd rule {e.wd_rule}" if e.wd_rule else "")
        )
        rows = [
            [l, _fmt(x.multiplier), _fmt(x.init_std), _fmt(x.lr), _fmt(x.wd), _fmt(x.eps)]
            for l, x in s.layers.items()
        ]
        print(_table(["layer", "multiplier", "init std", "lr", "wd", "adam eps"], rows))
        if s.branch_multiplier is not None:
            print(f"residual branch multiplier at depth {s.depth}: {_fmt(s.branch_multiplier)}")
        if s.batch is not None:
            print(
                f"tau_epoch rule: batch {s.batch['base_batch_size']} → {s.batch['batch_size']}, tokens "
                f"{s.batch['base_tokens']} → {s.batch['tokens']}: wd × {_fmt(s.batch['wd_factor'])}"
            )
        if s.horizon is not None and not s.horizon["relaxations"]:
            print(f"horizon: {_fmt(s.horizon['steps'])} steps; no layer is decayed (no relaxation time)")
        elif s.horizon is not None:
            print(
                f"horizon: {_fmt(s.horizon['steps'])} steps = "
                + ", ".join(f"{l} {_fmt(r)}" for l, r in s.horizon["relaxations"].items())
                + " relaxation times 1/(2·lr·wd)"
            )
    if args.explain:
        print()
        print(s.exponents.explain())
    return 0


_INT_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")
_FLOAT_TEXT = re.compile(
    r"\s*[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)\s*", re.IGNORECASE
)


def int_text(text: str) -> int:
    """A command-line integer: ASCII decimal digits with an optional sign (no '1_000', no
    non-ASCII digits such as '٣', no '1e3'); ValueError otherwise, as ``int`` raises."""
    if not isinstance(text, str) or not _INT_TEXT.fullmatch(text):
        raise ValueError(f"not a decimal integer: {text!r}")
    return int(text)


def float_text(text: str) -> float:
    """A command-line number: ASCII decimal or exponent notation, inf or nan (range checks are
    the caller's; no '1_0', no non-ASCII digits); ValueError otherwise, as ``float`` raises."""
    if not isinstance(text, str) or not _FLOAT_TEXT.fullmatch(text):
        raise ValueError(f"not a decimal number: {text!r}")
    return float(text)


int_text.__name__, float_text.__name__ = "int", "float"  # argparse: "invalid int value: '...'"


def _short(text) -> str:
    from mupsim.errors import show

    return show(text)


def _int(text):
    try:
        return int_text(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {_short(text)}") from None


def _float(text):
    try:
        return float_text(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {_short(text)}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mupsim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("exponents", help="per-layer exponents (x of n^-x) derived from the theory")
    _add_rule_options(p)
    p.set_defaults(func=_cmd_exponents)
    p = sub.add_parser("transfer", help="concrete per-layer settings at a target width")
    p.add_argument("--base-width", type=_int, required=True)
    p.add_argument("--width", type=_int, required=True)
    p.add_argument("--lr", type=_float, required=True)
    p.add_argument("--wd", type=_float, default=0.0)
    p.add_argument(
        "--eps", type=_float, default=1e-8, help="Adam epsilon tuned at the base width (default 1e-8)"
    )
    for name, what in (
        ("batch-size", "batch size of the target run"),
        ("base-batch-size", "batch size of the base run"),
        ("tokens", "training samples/tokens of the target run"),
        ("base-tokens", "training samples/tokens of the base run"),
        ("steps", "optimizer steps of the target run"),
        ("base-steps", "optimizer steps of the base run"),
    ):
        p.add_argument(f"--{name}", type=_int, default=None, help=what)
    p.add_argument("--base-depth", type=_int, default=None)
    p.add_argument("--depth", type=_int, default=None)
    _add_rule_options(p)
    p.set_defaults(func=_cmd_transfer)
    from mupsim.torch import cli as torch_cli  # torch-free: torch is imported only to read .pt files

    torch_cli.add_subcommands(sub)
    from mupsim.torch import transfer_cli  # torch-free until the command runs

    transfer_cli.add_subcommands(sub)
    try:
        from mupsim.sim import cli as sim_cli
    except ImportError:  # simulator not installed/built
        sim_cli = None
    if sim_cli is not None and hasattr(sim_cli, "add_subcommands"):
        sim_cli.add_subcommands(sub)
    return parser


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except MupsimError as exc:
        print(f"mupsim: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mupsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `mupsim exponents --explain | head -1`: stop quietly
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # stdout replaced or closed
            pass
        return 141


def _one_line(text: str) -> str:
    """``text`` with line breaks and other control characters shown as escapes (one line)."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


if __name__ == "__main__":
    raise SystemExit(main())
