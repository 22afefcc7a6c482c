"""Sharded init on torch.distributed (issue 12): every layout gives the single-process model.

Each test spawns gloo processes on 127.0.0.1 (``dist_cases``), with a deadline: a hang kills
the processes and fails the test; every worker destroys its process group.
"""

from __future__ import annotations

import socket
import time

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

import dist_cases  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

pytestmark = pytest.mark.slow  # each test spawns 2-4 processes that import torch

DEADLINE_S = 240.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(function, world: int) -> None:
    context = mp.start_processes(function, args=(world, _free_port()), nprocs=world,
                                 join=False, start_method="spawn")
    deadline = time.monotonic() + DEADLINE_S
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"{function.__name__} on {world} processes did not finish within "
                        f"{DEADLINE_S:g} s")


@pytest.mark.parametrize("world", [2, 3])
def test_fsdp2_meta_model_equals_the_single_process_init(world):
    _spawn(dist_cases.fsdp, world)


def test_tensor_parallel_equals_the_single_process_init():
    _spawn(dist_cases.tensor_parallel, 2)


def test_two_dimensional_mesh_on_four_processes():
    _spawn(dist_cases.two_dimensional, 4)


def test_pipeline_stages_get_the_whole_models_values():
    _spawn(dist_cases.pipeline, 2)


def test_sharded_errors():
    _spawn(dist_cases.errors, 2)
