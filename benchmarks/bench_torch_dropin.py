"""Time each paraminit.torch drop-in function against torch.nn.init on the same tensor.

    python benchmarks/bench_torch_dropin.py [--size 4096] [--repeat 3] [--out PATH]

Prints a table (ms each, ratio paraminit / torch) and saves JSON. No speed target yet:
paraminit samples with a NumPy Philox reference implementation, torch with its C++ kernels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.init as torch_init

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_of, report

import paraminit.torch as pi_init

CASES = {
    "uniform_": {},
    "normal_": {},
    "trunc_normal_": {"std": 0.02},
    "constant_": {"val": 0.5},
    "zeros_": {},
    "ones_": {},
    "eye_": {},
    "xavier_uniform_": {},
    "xavier_normal_": {},
    "kaiming_uniform_": {},
    "kaiming_normal_": {},
    "sparse_": {"sparsity": 0.9},
}
# QR of a 4096² matrix dominates either way; time orthogonal_ at a quarter of the size.
SMALL_CASES = {"orthogonal_": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "torch_dropin.json")
    args = parser.parse_args()
    rows, records = [], []
    cases = [(name, kw, args.size) for name, kw in CASES.items()]
    cases += [(name, kw, args.size // 4) for name, kw in SMALL_CASES.items()]
    for name, kwargs, size in cases:
        tensor = torch.empty(size, size)
        ours = best_of(lambda n=name, k=kwargs, t=tensor: getattr(pi_init, n)(t, **k),
                       args.repeat)
        theirs = best_of(lambda n=name, k=kwargs, t=tensor: getattr(torch_init, n)(t, **k),
                         args.repeat)
        ratio = ours / theirs if theirs > 0 else float("inf")
        rows.append((name, f"{size}x{size}", f"{ours * 1e3:.1f}", f"{theirs * 1e3:.1f}",
                     f"{ratio:.2f}"))
        records.append({"function": name, "shape": [size, size], "paraminit_s": ours,
                        "torch_s": theirs, "ratio": ratio})
    report(f"paraminit.torch vs torch.nn.init (float32, best of {args.repeat})",
           ("function", "shape", "paraminit ms", "torch ms", "ratio"), rows, records, args.out)


if __name__ == "__main__":
    main()
