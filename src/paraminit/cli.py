"""The ``paraminit`` command: a thin shell that parses, calls the library and renders.

Exit codes: 0 success, 2 bad input (the message says what and how to fix it), 3 a paper's
claim failed (``bench``), 130 interrupted by Ctrl-C, at any moment, with one line saying
what was kept (``compare`` and ``bench`` keep what finished; ``paraminit report DIR``
draws the report from it); 1 is left to Python for an unexpected error (a traceback).

This module imports only the standard library at the top: NumPy, SciPy and the rest load
inside :func:`main`, where a Ctrl-C while they load is handled like any other.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from ._errors import InitError

if TYPE_CHECKING:  # loaded on first use by __getattr__ below
    from .core.methods import parse_method, parse_methods

__all__ = ["main", "parse_method", "parse_methods", "parse_seeds", "parse_shape"]

EXIT_CLAIM_FAILED = 3  # bench: a paper's claim did not hold (1 stays Python's crash code)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention
_MAX_SEEDS = 10_000  # a range of seeds beyond this is a typo, not an experiment

# a results document → its HTML report; and → printed for people
Renderers = tuple[Callable[[dict[str, Any]], str], Callable[[dict[str, Any]], None]]
Pictures = dict[str, list[tuple[str, str, bytes]]]  # benchmark → [(stem, caption, PNG)]


def __getattr__(name: str) -> Any:
    """``parse_method`` and ``parse_methods`` (the method grammar of
    :mod:`paraminit.core.methods`), loaded when first used."""
    if name in ("parse_method", "parse_methods"):
        from .core import methods

        return getattr(methods, name)
    raise AttributeError(f"module 'paraminit.cli' has no attribute {name!r}")


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


def _interrupted(what: str) -> int:
    """Ctrl-C: one line on stderr saying ``what`` was kept (on a line of its own after a
    terminal's ``^C``); the exit code 130."""
    start = "\n" if sys.stderr.isatty() else ""
    print(f"{start}paraminit: interrupted; {what}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def _kept(total: int, noun: str, results: Path, key: str) -> str:
    """What an interrupted ``compare`` or ``bench`` kept, and how to draw it. The count is
    read from ``results`` (``len(doc[key])``), which is replaced atomically: a Ctrl-C between
    a run ending and its write reaching the disk must not claim a run the file lacks."""
    try:
        done = len(json.loads(results.read_text())[key])
    except FileNotFoundError:  # interrupted before the first write
        done = 0
    if not done:
        return (f"none of the {total} {noun} had finished, so {results} holds none; run the "
                "command again")
    return (f"kept the {done} of {total} {noun} that finished in {results}; "
            f"'paraminit report {shlex.quote(str(results.parent))}' draws a partial report "
            "from them")


def _cmd_compare(args: argparse.Namespace) -> int:
    # torch, matplotlib and scikit-learn are imported here only, so the other commands stay light.
    from .core.methods import parse_methods
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
    from .report.terminal import CompareProgress

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

    runs = len(config.methods) * len(config.seeds)
    try:
        save()
        with CompareProgress(plain=not args.json) as progress:
            compare(config, data=data, progress=progress, on_record=save)
        doc = save(complete=True)
    except KeyboardInterrupt:
        return _interrupted(_kept(runs, "runs", results, "records"))
    return _finish(doc, out, _report_compare, as_json=args.json)


def _report_compare() -> Renderers:
    """The HTML and terminal renderers of a ``compare`` results document."""
    from .report.html import render_html
    from .report.terminal import render_compare

    return render_html, render_compare


def _finish(doc: dict[str, Any], out: Path, renderers: Callable[[], Renderers], *,
            as_json: bool) -> int:
    """Write OUT/report.html from the results document (already in OUT/results.json), then
    print the document as JSON or render it for people, with where the files are.
    ``renderers()`` loads them (matplotlib: slow to import, so inside the Ctrl-C guard).
    Returns the exit code: 0, 3 when a bench claim in the document failed, or 130 when
    Ctrl-C stops the drawing (the message says what exists and that ``paraminit report
    OUT`` draws the rest)."""
    from .experiments._io import write_atomic

    report, results = out / "report.html", out / "results.json"
    redraw = f"'paraminit report {shlex.quote(str(out))}'"
    try:
        html, terminal = renderers()
        write_atomic(report, html(doc))
    except KeyboardInterrupt:
        return _interrupted(f"{_contents(doc)} {results}, but {report} was not written; "
                            f"{redraw} draws it")
    try:
        if as_json:
            print(json.dumps(doc, indent=1))
        else:
            terminal(doc)
            if not doc["complete"]:
                print(f"partial: {_contents(doc)} {results} (the run was interrupted)")
            print(f"report: {report}\nresults: {results}")
    except KeyboardInterrupt:
        return _interrupted(f"{report} and {results} are written; {redraw} shows the table "
                            "again")
    if doc["command"] == "bench" and not all(r["passed"] for r in doc["results"]):
        return EXIT_CLAIM_FAILED
    return 0


def _contents(doc: dict[str, Any]) -> str:
    """"all 4 runs are in" / "2 of 4 runs are in": what a results document holds."""
    if doc["command"] == "compare":
        done, total, noun = doc["runs_done"], doc["runs_expected"], "runs"
    else:
        done, total, noun = len(doc["results"]), doc["benchmarks_expected"], "benchmarks"
    return f"{f'all {total}' if done == total else f'{done} of {total}'} {noun} are in"


def _cmd_bench(args: argparse.Namespace) -> int:
    from .experiments._io import write_json_atomic
    from .experiments.papers import describe, document, select
    from .report.terminal import CompareProgress, render_table

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
    pictures: Pictures = {}

    def save() -> dict[str, Any]:
        doc = document(results, quick=args.quick, expected=len(chosen))
        write_json_atomic(results_path, doc)
        return doc

    try:
        save()
        for number, benchmark in enumerate(chosen, start=1):
            print(f"[{number}/{len(chosen)}] {benchmark.name}: {benchmark.title}",
                  file=sys.stderr, flush=True)
            with CompareProgress(plain=False) as progress:
                result = benchmark.execute(quick=args.quick, progress=progress)
            results.append(result)
            save()
            pictures[benchmark.name] = _plots(result, out)
            print(f"[{number}/{len(chosen)}] {benchmark.name}: "
                  f"{'PASS' if result['passed'] else 'FAIL'} ({result['seconds']:.1f} s)",
                  file=sys.stderr, flush=True)
        doc = save()
    except KeyboardInterrupt:
        return _interrupted(_kept(len(chosen), "benchmarks", results_path, "results"))
    return _finish(doc, out, partial(_report_bench, pictures), as_json=args.json)


def _plots(result: dict[str, Any], out: Path) -> list[tuple[str, str, bytes]]:
    """Draw a benchmark result's plots and write each as OUT/<name>_<stem>.png."""
    from .experiments._io import write_atomic
    from .report.bench import figures
    from .report.html import png_bytes

    drawn = [(stem, caption, png_bytes(figure)) for stem, caption, figure in figures(result)]
    for stem, _, png in drawn:
        write_atomic(out / f"{result['name']}_{stem}.png", png)
    return drawn


def _report_bench(pictures: Pictures) -> Renderers:
    """The HTML (reusing the plots drawn) and terminal renderers of a ``bench`` document."""
    from .report.bench import render_bench, render_bench_html

    return (lambda doc: render_bench_html(doc, pictures=pictures)), render_bench


# What each results document must hold for its report to be drawn (``command`` tells
# which: see experiments._document.document and experiments.papers.document).
_DOCUMENT_KEYS = {
    "compare": ("complete", "runs_expected", "runs_done", "settings", "dataset", "versions",
                "verdict_rules", "methods", "summary", "records"),
    "bench": ("quick", "complete", "benchmarks_expected", "passed", "versions", "results"),
}


def _read_results(folder: str) -> tuple[dict[str, Any], Path]:
    """The results document in FOLDER/results.json (or the file itself when FOLDER names
    one); InitError naming the path and the fix when it is missing or not one."""
    path = Path(folder)
    if path.is_dir():
        path = path / "results.json"
    elif not path.exists():
        raise InitError(f"report: {folder!r} does not exist; pass the --out folder of a "
                        "'paraminit compare' or 'paraminit bench' run (default "
                        "paraminit-compare or paraminit-bench)")
    rerun = "rerun the command that wrote it"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InitError(f"report: {str(path)!r} does not exist: {folder!r} holds no results "
                        "of 'paraminit compare' or 'paraminit bench'; pass the --out folder "
                        "of such a run") from None
    except UnicodeDecodeError:
        raise InitError(f"report: {str(path)!r} is not a text file; pass the results.json "
                        "(or the folder) of a 'paraminit compare' or 'paraminit bench' "
                        "run") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise InitError(f"report: {str(path)!r} is not valid JSON (line {error.lineno}, "
                        f"column {error.colno}: {error.msg}), perhaps cut short; {rerun}"
                        ) from None
    command = doc.get("command") if isinstance(doc, dict) else None
    if command not in _DOCUMENT_KEYS:
        raise InitError(f"report: {str(path)!r} is not the results of 'paraminit compare' "
                        "or 'paraminit bench' (no \"command\": \"compare\" or \"bench\" in "
                        "it); pass the --out folder of such a run")
    missing = [key for key in _DOCUMENT_KEYS[command] if key not in doc]
    if missing:
        raise InitError(f"report: {str(path)!r} lacks {', '.join(map(repr, missing))} of a "
                        f"{command} results document (edited, or from another paraminit "
                        f"version); {rerun}")
    return doc, path


def _cmd_report(args: argparse.Namespace) -> int:
    doc, results = _read_results(args.dir)
    out = results.parent
    try:
        if doc["command"] == "compare":
            renderers = _report_compare
        else:
            renderers = partial(_report_bench, {r["name"]: _plots(r, out)
                                                for r in doc["results"]})
        return _finish(doc, out, renderers, as_json=args.json)
    except KeyboardInterrupt:  # while drawing the plots (_finish handles its own)
        return _interrupted(f"{results} is unchanged and the report was not drawn; rerun "
                            f"'paraminit report {shlex.quote(str(out))}'")
    except (KeyError, TypeError, ValueError, IndexError) as error:
        if isinstance(error, InitError):
            raise
        raise InitError(f"report: {str(results)!r} is not a well-formed {doc['command']} "
                        f"results document ({type(error).__name__}: {error}); rerun the "
                        "command that wrote it") from None


def _cmd_schemes(args: argparse.Namespace) -> int:
    from .core.schemes import schemes
    from .report.terminal import render_table

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
    from .core.methods import parse_method
    from .core.schemes import resolve

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
    from .core.fans import LAYOUTS

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
    _report_parser(commands)
    return parser


def _bench_parser(commands: Any) -> None:
    bench = commands.add_parser(
        "bench", help="reproduce the papers' claims: table + HTML report",
        description="Run the benchmark suite that reproduces the literature's claims about "
                    "initialization (He 2015, Schoenholz 2017, Glorot 2010, Pennington 2017, "
                    "Saxe 2014, Klambauer 2017, Hanin & Rolnick 2018) and the recipes' claims "
                    "(Fixup 2019, muP 2022), and say which hold: 194 s for the seven papers' "
                    "on 2 idle CPU cores (fixup2019 and mup2022: 242 s and 106 s measured on "
                    "2 loaded ones). Writes OUT/results.json (as benchmarks "
                    "finish), OUT/report.html and a PNG per plot. Exit code 3 if a claim "
                    "fails. 'paraminit bench --list' names them.",
    )
    bench.add_argument("names", nargs="*", metavar="NAME",
                       help="benchmarks to run (default: all), e.g. he2015 edge_of_chaos")
    bench.add_argument("--quick", action="store_true",
                       help="small versions, what the test suite runs (about 50 s for the "
                            "seven on 2 idle CPU cores; 399 s measured on 2 loaded ones)")
    bench.add_argument("--out", default="paraminit-bench", metavar="DIR",
                       help="folder for results.json, report.html and the plots "
                            "(paraminit-bench)")
    bench.add_argument("--json", action="store_true",
                       help="print the results document as JSON on stdout (no table)")
    bench.add_argument("--list", action="store_true",
                       help="list the benchmarks with paper and claim, run nothing")
    bench.set_defaults(run=_cmd_bench)


def _report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="draw the table and report.html again from a compare/bench results.json",
        description="Draw the table (or print --json) and write DIR/report.html again from "
                    "DIR/results.json, the results of 'paraminit compare' or 'paraminit "
                    "bench' (and a bench run's PNG plots): after Ctrl-C stopped the drawing, "
                    "or to see an interrupted run's finished runs, marked as partial. Trains "
                    "nothing. Exit code 3 if a bench claim in it failed.",
    )
    report.add_argument("dir", metavar="DIR",
                        help="the --out folder of the run (or its results.json)")
    report.add_argument("--json", action="store_true",
                        help="print the results document as JSON on stdout (no table)")
    report.set_defaults(run=_cmd_report)


def _compare_parser(commands: Any) -> None:
    from .core.gains import ACTIVATION_NAMES

    compare = commands.add_parser(
        "compare", help="train init methods side by side on real data: table + HTML report",
        description="Train the same network once per (method, seed), each initialised by one "
                    "method, and compare: activation std and gradient flow through depth at "
                    "init, loss, accuracy and a verdict (trains / stalls / diverges / "
                    "symmetric). Writes OUT/results.json (as runs finish) and OUT/report.html. "
                    "Defaults: the textbook's 11 methods on a 30-layer, 128-wide ReLU MLP on "
                    "scikit-learn's 8x8 digits, seeds 0,1,2 (about a minute on 2 idle CPU "
                    "cores; 381 s measured on 2 cores loaded by other jobs).",
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
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 3 a bench claim failed,
    130 Ctrl-C)."""
    try:
        return _run(argv)
    except KeyboardInterrupt:  # before a command had anything to keep (or none keeps any)
        return _interrupted("nothing was written")


def _run(argv: Sequence[str] | None) -> int:
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
    except BrokenPipeError:  # the reader left (`paraminit schemes | head`): not an error
        # Python would report the failed flush of stdout at exit; point it at devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a file or folder named on the command line
        where = f" {error.filename!r}" if error.filename else ""
        print(f"paraminit: error: cannot use{where}: {error.strerror or error}; check the path "
              "and its permissions", file=sys.stderr)
        return EXIT_USAGE


def _one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
