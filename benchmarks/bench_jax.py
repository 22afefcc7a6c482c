"""Speed of paraminit.jax against jax.nn.initializers, jitted and eager, and compile time.

    python benchmarks/bench_jax.py [--repeat 5] [--sizes 1024 4096] [--dtype float32]
                                   [--out PATH]

One process, XLA on the CPU. For every name both libraries share (``CASES``) and every
``--sizes`` square shape (a (3, 3, n/8, n/8) kernel for ``delta_orthogonal``):

* ``jit``: ``jax.jit(init, static_argnums=(1, 2))`` called on a fixed key once to compile,
  then timed to ``block_until_ready`` -- the cost inside a jitted ``model.init``;
* ``eager``: ``init(key, shape, dtype)`` called directly, as a Flax module's
  ``kernel_init`` is outside jit (each call re-traces paraminit's element function; JAX's
  own initializers dispatch op by op);
* ``compile``: the first jitted call on a shape neither library has seen (tracing + XLA
  compilation) minus a warm call; measured first, once.

paraminit's and JAX's calls alternate within each repeat (the order flips every repeat)
and each keeps its best of N. speedup = JAX seconds / paraminit seconds: above 1, paraminit
is faster. The values differ by design (paraminit's Philox stream, JAX's threefry); the
laws are the same (tests/jax/test_jax_initializers.py). Nothing is asserted: the table is
printed and the JSON (machine, jax version, settings, every row) goes to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, ratio, report, shape_text

import paraminit.jax as pij

RESULTS = Path(__file__).resolve().parent / "results" / "jax.json"

# (name, positional arguments): the same factory call in both libraries.
CASES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("uniform", ()),
    ("normal", ()),
    ("truncated_normal", (0.02,)),
    ("he_normal", ()),
    ("he_uniform", ()),
    ("glorot_normal", ()),
    ("glorot_uniform", ()),
    ("lecun_normal", ()),
    ("variance_scaling", (1.0, "fan_avg", "normal")),
    ("orthogonal", ()),
    ("delta_orthogonal", ()),
    ("zeros", None),
)
FLAVOURS = ("jit", "eager")


def _shape(name: str, size: int) -> tuple[int, ...]:
    return (3, 3, max(size // 8, 1), max(size // 8, 1)) if name == "delta_orthogonal" \
        else (size, size)


def _initializers(name: str, arguments: tuple[Any, ...] | None) -> dict[str, Callable]:
    """{"paraminit": init, "jax": init}; ``zeros`` is itself an initializer in both."""
    made = {}
    for library, module in (("paraminit", pij), ("jax", jax.nn.initializers)):
        factory = getattr(module, name)
        made[library] = factory if arguments is None else factory(*arguments)
    return made


def _calls(inits: dict[str, Callable], shape: tuple[int, ...], dtype: Any,
           flavour: str) -> dict[str, tuple[None, Callable[[], object]]]:
    key = jax.random.key(0)
    calls = {}
    for library, init in inits.items():
        function = jax.jit(init, static_argnums=(1, 2)) if flavour == "jit" else init
        function(key, shape, dtype).block_until_ready()  # compile / warm
        calls[library] = (None, lambda f=function: f(key, shape, dtype).block_until_ready())
    return calls


def _compile_seconds(init: Callable, shape: tuple[int, ...], dtype: Any) -> float:
    """The first jitted call of a fresh ``jax.jit`` minus a warm call of it."""
    key = jax.random.key(1)
    function = jax.jit(init, static_argnums=(1, 2))
    start = time.perf_counter()
    function(key, shape, dtype).block_until_ready()
    first = time.perf_counter() - start
    start = time.perf_counter()
    function(key, shape, dtype).block_until_ready()
    return max(first - (time.perf_counter() - start), 0.0)


def run(sizes: Sequence[int], repeat: int, dtype_name: str) -> list[dict[str, Any]]:
    dtype = jnp.dtype(dtype_name)
    records = []
    for size in sizes:
        for name, arguments in CASES:
            shape = _shape(name, size)
            inits = _initializers(name, arguments)
            # first: a shape neither library has compiled for yet
            compiled = {library: _compile_seconds(init, shape, dtype)
                        for library, init in inits.items()}
            records.append({
                "name": name, "shape": list(shape), "dtype": dtype_name, "flavour": "compile",
                "paraminit_s": compiled["paraminit"], "jax_s": compiled["jax"],
                "speedup": ratio(compiled["jax"], compiled["paraminit"]), "repeats": 1})
            for flavour in FLAVOURS:
                print(f"[{flavour}] {name} {shape_text(shape)}", file=sys.stderr, flush=True)
                best, done = interleaved(_calls(inits, shape, dtype, flavour), repeat)
                records.append({
                    "name": name, "shape": list(shape), "dtype": dtype_name,
                    "flavour": flavour, "paraminit_s": best["paraminit"],
                    "jax_s": best["jax"], "speedup": ratio(best["jax"], best["paraminit"]),
                    "repeats": done["paraminit"]})
    return records


def _table_rows(records: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(r["name"], shape_text(r["shape"]), r["flavour"], f"{r['paraminit_s'] * 1e3:.2f}",
             f"{r['jax_s'] * 1e3:.2f}", f"{r['speedup']:.2f}x") for r in records]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    records = run(args.sizes, args.repeat, args.dtype)
    report(f"paraminit.jax vs jax.nn.initializers ({args.dtype}, ms, best of {args.repeat})",
           ("name", "shape", "call", "paraminit", "jax", "speedup"), _table_rows(records),
           records, args.out, jax=jax.__version__, backend=jax.default_backend(),
           settings={"sizes": args.sizes, "repeat": args.repeat, "dtype": args.dtype})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
