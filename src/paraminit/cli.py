"""The ``paraminit`` command: a thin shell that parses, calls the library and renders.

Exit codes: 0 success, 2 bad input (the message says what and how to fix it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from ._errors import InitError
from .core.fans import LAYOUTS
from .core.schemes import get_scheme, resolve, schemes
from .report.terminal import render_table

__all__ = ["main", "parse_method", "parse_shape"]

EXIT_USAGE = 2


def _scalar(text: str) -> Any:
    """An option value from the command line: int, float, bool, None, or the string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_method(text: str) -> tuple[str, dict[str, Any]]:
    """``"he_normal:mode=fan_out,slope=0.1"`` → ``("he_normal", {"mode": "fan_out", ...})``.

    The scheme must exist; option names are checked when the scheme is resolved.
    """
    name, _, rest = text.partition(":")
    get_scheme(name)
    options: dict[str, Any] = {}
    if rest:
        for item in rest.split(","):
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise InitError(
                    f"method {text!r}: option {item!r} is not key=value; write e.g. "
                    f"'{name}:mode=fan_out,slope=0.1'"
                )
            options[key.strip()] = _scalar(value.strip())
    return name, options


def parse_shape(text: str) -> tuple[int, ...]:
    """``"256,128,3,3"`` (or ``256x128x3x3``) → ``(256, 128, 3, 3)``."""
    parts = text.replace("x", ",").split(",")
    try:
        dims = tuple(int(p) for p in parts if p.strip())
    except ValueError:
        dims = ()
    if not dims or any(d < 0 for d in dims):
        raise InitError(f"--shape must be comma-separated non-negative ints like 256,128,3,3; "
                        f"received {text!r}")
    return dims


def _cmd_schemes(args: argparse.Namespace) -> int:
    entries = schemes()
    if args.json:
        records = [
            {"name": s.name, "aliases": list(s.aliases), "family": s.family,
             "options": dict(s.defaults), "summary": s.summary, "formula": s.formula,
             "paper": s.paper, "notes": list(s.notes)}
            for s in entries
        ]
        print(json.dumps(records, indent=2))
        return 0
    rows = [
        (s.name, ", ".join(s.aliases), ", ".join(f"{k}={v!r}" for k, v in s.defaults.items()),
         s.formula, s.paper)
        for s in entries
    ]
    render_table(f"paraminit {__version__}: {len(entries)} schemes",
                 ("scheme", "aliases", "options", "formula", "paper"), rows)
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    name, options = parse_method(args.scheme)
    fan_options: dict[str, Any] = {"groups": args.groups, "transposed": args.transposed,
                                   "fan_convention": args.fan_convention}
    if args.stride is not None:
        fan_options["stride"] = parse_shape(args.stride)
    spec = resolve(name, parse_shape(args.shape), layout=args.layout, **fan_options, **options)
    if args.json:
        print(json.dumps(spec.to_dict(), indent=2))
    else:
        print(spec.explain())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paraminit",
        description="Correct, explained, reproducible neural-network initialization.",
    )
    parser.add_argument("--version", action="version", version=f"paraminit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    listing = commands.add_parser("schemes", help="list every scheme with formula and paper")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_cmd_schemes)

    explain = commands.add_parser(
        "explain", help="fans, std/bound, formula and paper of a scheme on a shape",
        description="Explain a scheme on a weight shape, e.g. "
                    "'paraminit explain he_normal:mode=fan_out --shape 256,128,3,3'.",
    )
    explain.add_argument("scheme", help="registry name, optionally with options: "
                                        "NAME:key=value,key=value")
    explain.add_argument("--shape", required=True, help="weight shape, e.g. 256,128,3,3")
    explain.add_argument("--layout", default="torch", choices=LAYOUTS)
    explain.add_argument("--groups", type=int, default=1)
    explain.add_argument("--transposed", action="store_true",
                         help="the weight belongs to a transposed convolution")
    explain.add_argument("--stride", help="stride for stride-aware fans, e.g. 2,2")
    explain.add_argument("--fan-convention", default="paraminit",
                         choices=("paraminit", "torch", "keras", "jax"))
    explain.add_argument("--json", action="store_true", help="print the spec as JSON")
    explain.set_defaults(run=_cmd_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return int(args.run(args))
    except InitError as error:
        print(f"paraminit: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
