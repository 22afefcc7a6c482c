"""Where the runs of a comparison execute: in this process, or on a pool of spawned
worker processes whose progress events come back through a queue.

A run's numbers do not depend on where it runs (each is one process on ``threads`` torch
threads, with its own seeded streams and mini-batch order).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from ._config import CompareConfig
from ._data import Dataset
from ._methods import Method
from ._training import Tensors, run

__all__ = ["Task", "execute", "grid_axes", "task_context"]

Task = tuple[int, CompareConfig, Dataset, Method, int]  # (run number, config, data, method, seed)
Events = Callable[[dict[str, Any]], None]
Finished = Callable[[int, dict[str, Any]], None]


def grid_axes(configs: Sequence[CompareConfig]) -> tuple[str, ...]:
    """The settings that differ between the configs of a grid (shown with each run)."""
    keys = ("arch", "depth", "width", "activation", "bias_std", "lr", "steps", "optimizer")
    return tuple(k for k in keys if len({getattr(c, k) for c in configs}) > 1)


def task_context(task: Task, runs: int, grid: tuple[str, ...] = ()) -> dict[str, Any]:
    """What a progress event says about its run; ``where`` names the grid cell."""
    number, config, _, method, seed = task
    context = {"run": number, "runs": runs, "method": method.label, "seed": seed}
    if grid:
        context["where"] = ", ".join(f"{k} {getattr(config, k)}" for k in grid)
    return context


def _one(task: Task, runs: int, grid: tuple[str, ...], emit: Events,
         every: int = 1) -> dict[str, Any]:
    """Run one task; its events (every ``every``-th step, and the last) go to ``emit``."""
    number, config, data, method, seed = task
    context = task_context(task, runs, grid)

    def notify(event: dict[str, Any]) -> None:
        if event["step"] % every == 0 or event["step"] == event["steps"]:
            emit({**context, **event})

    emit({**context, "event": "run_start", "steps": config.steps})
    record = run(config, data, Tensors.of(data), method, seed, notify)
    record["run"] = number
    return record


def _serial(tasks: list[Task], threads: int, grid: tuple[str, ...],
            progress: Events | None, finished: Finished) -> None:
    """Runs one after the other in this process, on ``threads`` torch threads (restored)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for task in tasks:
            finished(task[0], _one(task, len(tasks), grid, progress or (lambda event: None)))
    finally:
        torch.set_num_threads(previous)


_EVENTS: Any = None  # the worker's event queue (set by _worker_start)


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """SIGINT blocked in this thread while worker processes are started, then delivered.

    A terminal's Ctrl-C goes to the whole process group. A spawned worker inherits the
    blocked signal mask (the stdlib's resource tracker is started the same way), so a
    Ctrl-C while it starts up (importing torch, before ``_worker_start``) cannot raise a
    KeyboardInterrupt and print a traceback there; the parent gets the signal once the
    workers exist, as a KeyboardInterrupt that terminates them.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _worker_start(events: Any, threads: int) -> None:
    """Worker set-up: Ctrl-C is the parent's to handle (it terminates the pool); SIGINT
    is already blocked (``_sigint_held``), and ignored from here on in any case."""
    global _EVENTS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _EVENTS = events


def _worker_run(job: tuple[Task, int, tuple[str, ...]]) -> tuple[int, dict[str, Any]]:
    task, runs, grid = job
    return task[0], _one(task, runs, grid, _EVENTS.put, every=5)


def _parallel(tasks: list[Task], workers: int, threads: int, grid: tuple[str, ...],
              progress: Events | None, finished: Finished) -> None:
    """Runs spread over ``workers`` spawned processes; progress events come back through a
    queue. On any exception (Ctrl-C included) the pool is terminated and it propagates;
    runs finished before that have already been passed to ``finished``."""
    spawn = multiprocessing.get_context("spawn")
    events = spawn.Queue()

    def drain() -> None:
        while True:
            try:
                event = events.get_nowait()
            except queue.Empty:
                return
            if progress is not None:
                progress(event)

    pool = None
    try:
        with _sigint_held():  # pool is set before a Ctrl-C held back here is raised
            pool = spawn.Pool(workers, initializer=_worker_start, initargs=(events, threads))
        results = pool.imap_unordered(_worker_run, [(task, len(tasks), grid) for task in tasks])
        for _ in tasks:
            while True:
                try:
                    number, record = results.next(timeout=0.05)
                except multiprocessing.TimeoutError:
                    drain()
                    continue
                break
            drain()
            finished(number, record)
        pool.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        events.close()


def execute(tasks: list[Task], *, workers: int, threads: int, grid: tuple[str, ...],
            progress: Events | None, finished: Finished) -> None:
    """Every task, in this process (``workers`` 1 or a single task) or on ``workers``
    processes; ``finished(number, record)`` is called in this process as each ends."""
    if workers == 1 or len(tasks) == 1:
        _serial(tasks, threads, grid, progress, finished)
    else:
        _parallel(tasks, workers, threads, grid, progress, finished)
