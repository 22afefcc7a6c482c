"""``compare``: initialization methods trained side by side on a real data set.

Each (method, seed) run builds the same network and initialises it through the planner,
``paraminit.torch.init(model, method.rules(bias_std), seed=seed)`` (every weight by the
method, biases zero or N(0, bias_std²)); the data-dependent method ``lsuv`` then runs
:func:`paraminit.torch.lsuv` on the probe batch. It then probes it at init
(:func:`paraminit.torch.probe`: activation std and gradient norms per layer), trains it
with the same optimizer, schedule and mini-batch order, and evaluates it. The verdict
follows from stated rules (:func:`decide`). Nothing here prints: progress goes to an
optional callback, records are returned (and handed to ``on_record`` as each run finishes).

It reproduces, on a real network, the textbook's account of initialization (Qiu 2020,
§7.3): zero init leaves every hidden unit identical (symmetry), too small random weights
make the signal vanish with depth, Xavier keeps the variance of linear/tanh units (Glorot &
Bengio 2010, §4.2, Eq. 12-16), He/MSRA that of ReLU units (He et al. 2015, §2.2, Eq. 10),
orthogonal keeps norms of linear maps exactly (Saxe et al. 2014, §3).

The parts: :mod:`._methods` (a method and its rules), :mod:`._config` (the settings),
:mod:`._training` (one run: the loop and the optimisers), :mod:`._verdicts`,
:mod:`._pool` (where runs execute) and :mod:`._document` (the results document).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._errors import InitError
from ..core import validate
from ._config import CompareConfig, default_workers
from ._data import Dataset, load_dataset
from ._document import method_details
from ._pool import execute, grid_axes, task_context

__all__ = ["compare", "run_all"]


def compare(
    config: CompareConfig | None = None,
    *,
    data: Dataset | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every (method, seed) of ``config`` and return one record per run.

    Args:
        config: the settings (:class:`CompareConfig`; defaults when None).
        data: an already loaded :class:`Dataset` (else ``load_dataset(config.dataset)``).
        progress: called (in this process) with event dicts, each with ``run``, ``runs``,
            ``method``, ``seed``: ``{"event": "run_start", "steps"}``, ``{"event": "step",
            "step", "steps", "loss"}`` (every step in-process, every 5th from workers) and
            ``{"event": "run_end", "record"}``. Runs may interleave across workers.
        on_record: called with each record as its run finishes (e.g. to save it), in
            completion order; ``record["run"]`` is its place in (method, seed) order.

    Everything is checked (settings, data, every method's options on every weight shape)
    before the first run. Records hold ``method``, ``seed``, ``verdict`` (by
    :data:`VERDICT_RULES`), losses, accuracies, the per-layer probe at init (``layers``),
    the loss curve and the settings. The returned list is in (method, seed) order. Same
    config and data → the same numbers (except ``seconds``) on the same machine.
    """
    config = (config or CompareConfig()).resolved()
    return run_all([config], data=data, progress=progress, on_record=on_record,
                   workers=config.workers, threads=config.threads)


def run_all(
    configs: Sequence[CompareConfig],
    *,
    data: Dataset | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    workers: int | None = None,
    threads: int = 1,
) -> list[dict[str, Any]]:
    """Every (method, seed) run of several configs (a grid: e.g. one config per depth) on
    one pool of ``workers`` processes; records in (config, method, seed) order, each with
    its own ``settings``. The configs must share the data set (``data``, else the first
    config's); ``progress`` and ``on_record`` are as in :func:`compare`. The experiments of
    ``paraminit bench`` train through this, so every run is a compare run.
    """
    configs = [config.resolved() for config in configs]
    if not configs:
        raise InitError("run_all needs at least one CompareConfig")
    first = configs[0]
    split = ("dataset", "split_seed", "test_fraction")
    for config in configs[1:]:
        differ = [k for k in split if getattr(config, k) != getattr(first, k)]
        if differ:
            raise InitError(f"run_all: the configs must share the data set; {differ[0]} is "
                            f"{getattr(first, differ[0])!r} in the first config and "
                            f"{getattr(config, differ[0])!r} in another")
    data = data if data is not None else load_dataset(
        first.dataset, split_seed=first.split_seed, test_fraction=first.test_fraction)
    for config in configs:
        method_details(config, data)  # every method's options, on the real shapes, now
    runs = [(config, method, seed) for config in configs for method in config.methods
            for seed in config.seeds]
    tasks = [(number, config, data, method, seed)
             for number, (config, method, seed) in enumerate(runs, start=1)]
    grid = grid_axes(configs)
    workers = validate.integer("workers", default_workers(len(tasks)) if workers is None
                               else workers, minimum=1)
    validate.integer("threads", threads, minimum=1)
    records: dict[int, dict[str, Any]] = {}

    def finished(number: int, record: dict[str, Any]) -> None:
        records[number] = record
        if on_record is not None:
            on_record(record)
        if progress is not None:
            progress({**task_context(tasks[number - 1], len(tasks), grid), "event": "run_end",
                      "record": record})

    execute(tasks, workers=workers, threads=threads, grid=grid, progress=progress,
            finished=finished)
    return [records[number] for number in sorted(records)]
