"""The ``paraminit`` command: a thin shell that parses, calls the library and renders.

Exit codes: 0 success, 2 bad input (the message says what and how to fix it), 3 a paper's
claim failed (``bench``), 130 interrupted by Ctrl-C (``compare`` and ``bench`` keep what
finished); 1 is left to Python for an unexpected error (a traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from ._errors import InitError
from .core.fans import LAYOUTS
from .core.gains import ACTIVATION_NAMES
from .core.methods import parse_method, parse_methods
from .core.schemes import resolve, schemes
from .report.terminal import render_table

__all__ = ["main", "parse_method", "parse_methods", "parse_seeds", "parse_shape"]

EXIT_CLAIM_FAILED = 3  # bench: a paper's claim did not hold (1 stays Python's crash code)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention
_MAX_SEEDS = 10_000  # a range of seeds beyond this is a typo, not an experiment


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


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` or ``"0-4"`` (inclusive range) or ``"7"`` → a tuple of distinct seeds."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, dash, high = part.strip().partition("-")
            if dash:
                if int(high) - int(low) >= _MAX_SEEDS:
                    raise InitError(f"--seeds: the range {part.strip()!r} holds more than "
                                    f"{_MAX_SEEDS} seeds; give a shorter range such as 0-4")
                seeds += range(int(low), int(high) + 1)
            else:
                seeds.append(int(low))
    except InitError:
        raise
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise InitError(f"--seeds must be distinct non-negative ints like 0,1,2 or 0-4; "
                        f"received {text!r}")
    return tuple(seeds)


def _writable_dir(text: str) -> Path:
    """Create ``text`` if needed and prove it takes files; InitError (and nothing left
    behind) otherwise."""
    out = Path(text)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle, probe_file = tempfile.mkstemp(prefix=".paraminit-", dir=out)
        os.close(handle)
        os.unlink(probe_file)
    except OSError as error:
        if created and out.is_dir():
            out.rmdir()
        raise InitError(f"--out {text!r} is not a writable folder ({error.strerror or error}); "
                        "pass a folder you can write to, e.g. --out ./compare-report") from None
    return out


def _cmd_compare(args: argparse.Namespace) -> int:
    # torch, matplotlib and scikit-learn are imported here only, so the other commands stay light.
    from .experiments import (
        MODEL_METHODS,
        QUICK_METHODS,
        TEXTBOOK_METHODS,
        CompareConfig,
        Method,
        compare,
        document,
        load_dataset,
        method_details,
        write_json_atomic,
    )
    from .report.terminal import CompareProgress, render_compare

    if args.methods:
        methods = tuple(Method(name, options) for name, options in
                        parse_methods(args.methods, model_methods=tuple(MODEL_METHODS)))
    else:
        methods = tuple(Method(m) for m in (QUICK_METHODS if args.quick else TEXTBOOK_METHODS))
    seeds = parse_seeds(args.seeds) if args.seeds else ((0,) if args.quick else (0, 1, 2))
    options = {key: getattr(args, key) for key in (
        "arch", "depth", "width", "activation", "bias_std", "lr", "optimizer", "workers")}
    if args.steps is not None:
        options["steps"] = args.steps
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    config = CompareConfig(dataset=args.dataset, methods=methods, seeds=seeds,
                           **options).resolved()
    data = load_dataset(config.dataset, split_seed=config.split_seed,
                        test_fraction=config.test_fraction)
    details = method_details(config, data)
    out = _writable_dir(args.out)  # after every check of the input: nothing half-written
    results = out / "results.json"
    (out / "report.html").unlink(missing_ok=True)  # an earlier run's: not these results
    records: list[dict[str, Any]] = []

    def save(record: dict[str, Any] | None = None, *, complete: bool = False) -> dict[str, Any]:
        if record is not None:
            records.append(record)
            records.sort(key=lambda r: r["run"])
        doc = document(config, data, records, complete=complete, details=details)
        write_json_atomic(results, doc)
        return doc

    save()
    try:
        with CompareProgress(plain=not args.json) as progress:
            compare(config, data=data, progress=progress, on_record=save)
    except KeyboardInterrupt:
        print(f"\nparaminit: interrupted; kept the {len(records)} of "
              f"{len(config.methods) * len(config.seeds)} runs that finished in {results}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    from .report.html import render_html

    _finish(save(complete=True), out, results, render_html, render_compare, as_json=args.json)
    return 0


def _finish(doc: dict[str, Any], out: Path, results: Path, html: Any, terminal: Any, *,
            as_json: bool) -> None:
    """Write OUT/report.html from the results document, then print the document as JSON
    or render it for people, with where the files are."""
    from .experiments._io import write_atomic

    report = out / "report.html"
    write_atomic(report, html(doc))
    if as_json:
        print(json.dumps(doc, indent=1))
    else:
        terminal(doc)
        print(f"report: {report}\nresults: {results}")


def _cmd_bench(args: argparse.Namespace) -> int:
    from .experiments._io import write_atomic, write_json_atomic
    from .experiments.papers import describe, document, select
    from .report.bench import figures, render_bench, render_bench_html
    from .report.html import png_bytes
    from .report.terminal import CompareProgress

    if args.list:
        if args.json:
            print(json.dumps(describe(), indent=1))
        else:
            render_table("paraminit bench: the benchmarks", ("name", "paper", "claim"),
                         [(d["name"], d["cite"], d["claim"]) for d in describe()])
        return 0
    chosen = select(args.names)
    out = _writable_dir(args.out)  # after every check of the input: nothing half-written
    results_path = out / "results.json"
    # a report or plots from an earlier run would not match the new results.json
    for stale in [out / "report.html", *(p for b in chosen for p in out.glob(f"{b.name}_*.png"))]:
        stale.unlink(missing_ok=True)
    results: list[dict[str, Any]] = []
    pictures: dict[str, list[tuple[str, str, bytes]]] = {}

    def save() -> dict[str, Any]:
        doc = document(results, quick=args.quick, expected=len(chosen))
        write_json_atomic(results_path, doc)
        return doc

    save()
    try:
        for number, benchmark in enumerate(chosen, start=1):
            print(f"[{number}/{len(chosen)}] {benchmark.name}: {benchmark.title}",
                  file=sys.stderr, flush=True)
            with CompareProgress(plain=False) as progress:
                result = benchmark.execute(quick=args.quick, progress=progress)
            results.append(result)
            save()
            pictures[benchmark.name] = [(stem, caption, png_bytes(figure))
                                        for stem, caption, figure in figures(result)]
            for stem, _, png in pictures[benchmark.name]:
                write_atomic(out / f"{benchmark.name}_{stem}.png", png)
            print(f"[{number}/{len(chosen)}] {benchmark.name}: "
                  f"{'PASS' if result['passed'] else 'FAIL'} ({result['seconds']:.1f} s)",
                  file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print(f"\nparaminit: interrupted; kept the {len(results)} of {len(chosen)} benchmarks "
              f"that finished in {results_path}", file=sys.stderr)
        return EXIT_INTERRUPTED
    doc = save()
    _finish(doc, out, results_path, lambda d: render_bench_html(d, pictures=pictures),
            render_bench, as_json=args.json)
    return 0 if doc["passed"] else EXIT_CLAIM_FAILED


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
    if args.model is not None:
        from .torch._cli import explain_model  # imports torch only when asked

        return explain_model(args.model, rules=args.rules, preset=args.preset,
                             as_json=args.json)
    if args.scheme is None or args.shape is None:
        raise InitError(
            "explain needs a SCHEME and --shape (e.g. 'paraminit explain he_normal --shape "
            "256,128,3,3') or --model pkg.module:factory (a model's initialisation plan); "
            f"received scheme={args.scheme!r}, --shape={args.shape!r}"
        )
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
    explain.add_argument("scheme", nargs="?", help="registry name, optionally with options: "
                                                   "NAME:key=value,key=value")
    explain.add_argument("--shape", help="weight shape, e.g. 256,128,3,3 (with SCHEME)")
    explain.add_argument("--model", metavar="PKG.MODULE:FACTORY",
                         help="explain a torch model's init plan and audit: FACTORY() builds it")
    explain.add_argument("--rules", metavar="FILE", help="with --model: a .json/.toml rules file")
    explain.add_argument("--preset", default="he", help="with --model: the fallback preset")
    explain.add_argument("--layout", default="torch", choices=LAYOUTS,
                         help="how the shape's axes are read: torch (out, in, *kernel), jax or "
                              "keras (*kernel, in, out) (default torch)")
    explain.add_argument("--groups", type=int, default=1,
                         help="convolution groups: fans per group (default 1)")
    explain.add_argument("--transposed", action="store_true",
                         help="the weight belongs to a transposed convolution")
    explain.add_argument("--stride", help="stride for stride-aware fans, e.g. 2,2")
    explain.add_argument("--fan-convention", default="paraminit",
                         choices=("paraminit", "torch", "keras", "jax"))
    explain.add_argument("--json", action="store_true", help="print the spec as JSON")
    explain.set_defaults(run=_cmd_explain)
    _compare_parser(commands)
    _bench_parser(commands)
    return parser


def _bench_parser(commands: Any) -> None:
    bench = commands.add_parser(
        "bench", help="reproduce the papers' claims: 8 benchmarks, table + HTML report",
        description="Run the benchmark suite that reproduces the literature's claims about "
                    "initialization (He 2015, Schoenholz 2017, Glorot 2010, Pennington 2017, "
                    "Saxe 2014, Klambauer 2017, Hanin & Rolnick 2018, Yang et al. 2022's μP), "
                    "each under 2 minutes "
                    "on 2 cores, and say which hold. Writes OUT/results.json (as benchmarks "
                    "finish), OUT/report.html and a PNG per plot. Exit code 3 if a claim "
                    "fails. 'paraminit bench --list' names them.",
    )
    bench.add_argument("names", nargs="*", metavar="NAME",
                       help="benchmarks to run (default: all), e.g. he2015 edge_of_chaos")
    bench.add_argument("--quick", action="store_true",
                       help="small versions (seconds each; what the test suite runs)")
    bench.add_argument("--out", default="paraminit-bench", metavar="DIR",
                       help="folder for results.json, report.html and the plots "
                            "(paraminit-bench)")
    bench.add_argument("--json", action="store_true",
                       help="print the results document as JSON on stdout (no table)")
    bench.add_argument("--list", action="store_true",
                       help="list the benchmarks with paper and claim, run nothing")
    bench.set_defaults(run=_cmd_bench)


def _compare_parser(commands: Any) -> None:
    compare = commands.add_parser(
        "compare", help="train init methods side by side on real data: table + HTML report",
        description="Train the same network once per (method, seed), each initialised by one "
                    "method, and compare: activation std and gradient flow through depth at "
                    "init, loss, accuracy and a verdict (trains / stalls / diverges / "
                    "symmetric). Writes OUT/results.json (as runs finish) and OUT/report.html. "
                    "Defaults: the textbook's 11 methods on a 30-layer, 128-wide ReLU MLP on "
                    "scikit-learn's 8x8 digits, seeds 0,1,2 (about a minute on 2 cores).",
    )
    compare.add_argument("--dataset", default="digits",
                         help="digits (bundled with scikit-learn), mnist1d (generated locally, "
                              "fixed seed) or PATH.npz with x_train, y_train[, x_test, y_test]")
    compare.add_argument("--arch", default="mlp", choices=("mlp", "cnn"))
    compare.add_argument("--depth", type=int,
                         help="weight layers including the output layer (mlp 30, cnn 10)")
    compare.add_argument("--width", type=int, help="hidden units / channels (mlp 128, cnn 16)")
    compare.add_argument("--activation", default="relu",
                         choices=ACTIVATION_NAMES,
                         help="hidden nonlinearity (linear: a deep linear network)")
    compare.add_argument("--bias-std", type=float, default=0.0,
                         help="biases ~ N(0, bias_std^2) (default 0: zero biases)")
    compare.add_argument("--methods", action="append", metavar="LIST",
                         help="comma-separated registry names with options, e.g. "
                              "'zeros,xavier_normal,he_normal:mode=fan_out' (repeatable); "
                              "'lsuv' (Mishkin & Matas 2016) runs on the probe batch")
    compare.add_argument("--steps", type=int, help="training steps per run (150)")
    compare.add_argument("--lr", type=float, help="peak learning rate (sgd 0.05, adam 0.001)")
    compare.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"),
                         help="sgd = SGD with momentum 0.9")
    compare.add_argument("--batch-size", type=int, help="mini-batch size (128)")
    compare.add_argument("--seeds", help="e.g. 0,1,2 or 0-4 (default 0,1,2; --quick: 0)")
    compare.add_argument("--workers", type=int,
                         help="processes running in parallel (default min(2, CPUs))")
    compare.add_argument("--out", default="paraminit-compare", metavar="DIR",
                         help="folder for results.json and report.html (paraminit-compare)")
    compare.add_argument("--json", action="store_true",
                         help="print the results document as JSON on stdout (no table)")
    compare.add_argument("--quick", action="store_true",
                         help="seed 0 and 4 methods (zeros, normal, xavier_normal, he_normal) "
                              "unless --seeds / --methods say otherwise")
    compare.set_defaults(run=_cmd_compare)


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
        print(f"paraminit: error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a file or folder named on the command line
        where = f" {error.filename!r}" if error.filename else ""
        print(f"paraminit: error: cannot use{where}: {error.strerror or error}; check the path "
              "and its permissions", file=sys.stderr)
        return EXIT_USAGE


def _one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
