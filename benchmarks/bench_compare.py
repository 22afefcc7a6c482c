"""Wall time of the default ``paraminit compare`` run, as a user sees it.

    python benchmarks/bench_compare.py [--repeat 1] [--quick] [--out PATH] [-- EXTRA ARGS]

Runs ``python -m paraminit compare`` in a fresh process (imports, data, training, HTML
report included), ``--repeat`` times, and prints a table: wall time per repeat, then per
method the verdict, accuracies and mean seconds per run (from results.json). Saves JSON
with the machine, the load average before and after (other work on the machine slows the
runs) and every number. Not a test: no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import report

SRC = Path(__file__).resolve().parents[1] / "src"


def _once(extra: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "paraminit", "compare", "--out", folder, *extra]
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        return wall, json.loads((Path(folder) / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="time --quick instead")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("extra", nargs="*", help="more arguments for paraminit compare")
    args = parser.parse_args()
    extra = (["--quick"] if args.quick else []) + args.extra
    name = "compare_quick" if args.quick else "compare_default"
    out = args.out or Path(__file__).parent / "results" / f"{name}.json"
    load_before = os.getloadavg()
    walls, doc = [], {}
    for _ in range(args.repeat):
        wall, doc = _once(extra)
        walls.append(wall)
    load_after = os.getloadavg()
    rows = [("wall time", f"repeat {i + 1}", f"{w:.1f} s", "", "") for i, w in enumerate(walls)]
    records = [{"metric": "wall_s", "values": walls, "best": min(walls),
                "load_average_before": load_before, "load_average_after": load_after,
                "command": ["paraminit", "compare", *extra], "settings": doc["settings"]}]
    for row in doc["summary"]:
        seconds = [r["seconds"] for r in doc["records"] if r["method"] == row["method"]]
        mean_s = sum(seconds) / len(seconds)
        train, test = row["train_accuracy"], row["test_accuracy"]
        rows.append((row["method"], row["verdict"], f"{100 * train['mean']:.1f} %",
                     f"{100 * test['mean']:.1f} %", f"{mean_s:.2f} s"))
        records.append({"method": row["method"], "verdict": row["verdict"],
                        "verdicts": row["verdicts"], "train_accuracy": train,
                        "test_accuracy": test, "seconds_per_run": mean_s})
    report(f"paraminit compare {' '.join(extra)} (load average {load_before[0]:.2f} before, "
           f"{load_after[0]:.2f} after; {os.cpu_count()} CPUs)",
           ("method / metric", "verdict", "train acc", "test acc", "s per run"), rows,
           records, out)


if __name__ == "__main__":
    main()
