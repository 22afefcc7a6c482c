"""Model-level init of a GPT-2-small-sized model: time and peak memory of each path.

    python benchmarks/bench_model_init.py [--layers 12] [--d 768] [--vocab 50257] [--out PATH]

Each variant runs in a fresh subprocess (peak RSS from ``resource.getrusage``, which sees
torch's allocations, unlike tracemalloc), minus the process's RSS after imports:

* ``torch``: construct with torch's default init (no re-init): the model's own footprint.
* ``reinit``: construct with torch's default init, then ``paraminit.torch.init(model)``:
  the default construct-then-reinit path (atomic, so the new values exist once more).
* ``skip``: construct inside ``skip_default_init()``, then ``init(model)``.
* ``meta``: construct on the meta device, then ``init(model, device="cpu")``: each
  parameter is materialised directly into its values.

Ratios are against ``reinit``. paraminit samples with its NumPy Philox reference, so the
sampling itself dominates every paraminit variant.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

VARIANTS = ("torch", "reinit", "skip", "meta")


def _gpt(layers: int, d: int, vocab: int, context: int):
    import torch.nn as nn

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(vocab, d)
            self.wpe = nn.Embedding(context, d)
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(d, d // 64, 4 * d, dropout=0.0, batch_first=True,
                                           norm_first=True) for _ in range(layers))
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab, bias=False)
            self.head.weight = self.wte.weight  # tied, as GPT-2

    return GPT


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def child(variant: str, layers: int, d: int, vocab: int, context: int) -> dict:
    import torch

    import paraminit.torch as pit

    torch.set_num_threads(1)
    gpt = _gpt(layers, d, vocab, context)
    # warm-up on a tiny model of the same make: the first meta construction imports torch's
    # meta decompositions (seconds), the first init scipy; one-time costs, not the model's
    with torch.device("meta"):
        tiny = _gpt(1, 64, 10, 4)()
    pit.init(tiny, device="cpu")
    pit.init(_gpt(1, 64, 10, 4)())
    del tiny
    baseline = _rss_mb()
    start = time.perf_counter()
    if variant == "meta":
        with torch.device("meta"):
            model = gpt()
    elif variant == "skip":
        with pit.skip_default_init():
            model = gpt()
    else:
        model = gpt()
    built = time.perf_counter()
    if variant == "meta":
        pit.init(model, device="cpu")
    elif variant != "torch":
        pit.init(model)
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    params = sum(p.numel() for p in model.parameters())
    assert not any(p.is_meta for p in model.parameters())
    return {"variant": variant, "construct_s": built - start, "init_s": done - built,
            "total_s": done - start, "peak_rss_mb": peak - baseline,
            "model_mb": params * 4 / 2**20, "parameters": params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "model_init.json")
    args = parser.parse_args()
    shape = (args.layers, args.d, args.vocab, args.context)
    if args.child:
        print(json.dumps(child(args.child, *shape)))
        return
    from _common import best_of, report

    records = []
    for variant in VARIANTS:
        result: dict = {}

        def run(v: str = variant, out: dict = result) -> None:
            command = [sys.executable, __file__, "--child", v, "--layers", str(args.layers),
                       "--d", str(args.d), "--vocab", str(args.vocab),
                       "--context", str(args.context)]
            text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            out.update(json.loads(text.strip().splitlines()[-1]))

        result["process_s"] = best_of(run, 1)
        records.append(result)
        print(f"{variant}: {result['total_s']:.1f} s, peak {result['peak_rss_mb']:.0f} MB",
              file=sys.stderr)
    reference = next(r for r in records if r["variant"] == "reinit")
    rows = []
    for r in records:
        r["time_ratio"] = r["total_s"] / reference["total_s"]
        r["memory_ratio"] = r["peak_rss_mb"] / reference["peak_rss_mb"]
        r["memory_per_model"] = r["peak_rss_mb"] / r["model_mb"]
        rows.append((r["variant"], f"{r['construct_s']:.2f}", f"{r['init_s']:.2f}",
                     f"{r['total_s']:.2f}", f"{r['time_ratio']:.2f}",
                     f"{r['peak_rss_mb']:.0f}", f"{r['memory_per_model']:.2f}",
                     f"{r['memory_ratio']:.2f}"))
    title = (f"model init: {args.layers} layers, d={args.d}, vocab {args.vocab} "
             f"({reference['parameters'] / 1e6:.1f}M parameters, "
             f"{reference['model_mb']:.0f} MB float32)")
    report(title, ("variant", "construct s", "init s", "total s", "time / reinit",
                   "peak MB", "peak / model", "peak / reinit"), rows, records, args.out,
           shape={"layers": args.layers, "d": args.d, "vocab": args.vocab,
                  "context": args.context})


if __name__ == "__main__":
    main()
