"""Worker bodies of the multi-process tests (imported by spawned processes, so no pytest).

Each worker joins a gloo process group on 127.0.0.1, builds the same model the
single-process reference builds, initialises the sharded copy with paraminit and checks
that every gathered parameter equals the reference bit for bit.
"""

from __future__ import annotations

import datetime
import functools
import os
import sys
import warnings

import torch
import torch.distributed as dist
import torch.nn as nn

import paraminit.torch as pit

SEED = 11


class Block(nn.Module):
    def __init__(self, width: int = 6) -> None:
        super().__init__()
        self.up = nn.Linear(width, 7)  # 7 rows: uneven on 2, 3 and 4 ranks
        self.down = nn.Linear(7, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.down(torch.relu(self.up(x))))


class Net(nn.Module):
    def __init__(self, blocks: int = 2) -> None:
        super().__init__()
        self.emb = nn.Embedding(9, 6, padding_idx=4)
        self.h = nn.ModuleList(Block() for _ in range(blocks))
        self.lstm = nn.LSTM(6, 5)  # gate blocks of 5 rows each across shard boundaries
        self.head = nn.Linear(6, 9, bias=False)


RULE_SETS = {
    "he": "he",
    "torch_default": "torch_default",
    "mixed": [pit.Rule("*.up.weight", "truncated_normal", std=0.02),
              pit.Rule("*.down.weight", "uniform", low=-0.1, high=0.3),
              pit.Rule("head.weight", "orthogonal"),
              pit.Rule(nn.LSTM, "xavier_normal", forget_bias=1.0)],
}


def worker(body):
    """Run ``body(rank, world, port)`` inside a gloo process group on 127.0.0.1.

    The group is destroyed whatever happens; an exception propagates to torch's spawn error
    file. After a clean run the process leaves with ``os._exit(0)``: torch can abort at
    interpreter finalization ("terminate called without an active exception", SIGABRT) when
    a gloo thread is still joinable, which made a passing test fail about 1 run in 7.
    """
    @functools.wraps(body)
    def run(rank: int, world: int, port: int) -> None:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        torch.set_num_threads(1)
        warnings.filterwarnings("ignore")
        dist.init_process_group("gloo", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=60))
        try:
            body(rank, world, port)
        finally:
            dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return run


def reference(rules, blocks: int = 2) -> dict[str, torch.Tensor]:
    model = Net(blocks)
    pit.init(model, rules, seed=SEED)
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def check_equal(model: nn.Module, expected: dict[str, torch.Tensor], what: str) -> None:
    from torch.distributed.tensor import DTensor

    for name, param in model.named_parameters():
        full = param.full_tensor() if isinstance(param, DTensor) else param
        if not torch.equal(full.detach(), expected[name]):
            raise AssertionError(f"{what}: {name} differs from the single-process init "
                                 f"(max |d| = {(full.detach() - expected[name]).abs().max()})")


@worker
def fsdp(rank: int, world: int, port: int) -> None:
    """FSDP2 on a meta model, uneven shards; init(device="cpu") materialises each shard."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    mesh = init_device_mesh("cpu", (world,))
    for label, rules in RULE_SETS.items():
        with torch.device("meta"):
            model = Net()
        for block in model.h:
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
        plan = pit.init(model, rules, seed=SEED, device="cpu")
        assert pit.audit(model, plan) == [], pit.audit(model, plan)  # on the local parts
        local = model.h[0].up.weight.to_local()
        expected_rows = {2: [4, 3], 3: [3, 3, 1], 4: [2, 2, 2, 1]}[world]  # torch.chunk
        assert local.shape[0] == expected_rows[rank], (local.shape, rank)
        check_equal(model, reference(rules), f"fsdp x{world} {label}")
        y = model.h[0](torch.ones(3, 6))  # FSDP gathers the shards init wrote
        assert torch.isfinite(y).all()


@worker
def tensor_parallel(rank: int, world: int, port: int) -> None:
    """ColwiseParallel / RowwiseParallel (Shard(0), Shard(1), Replicate), eager modules."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor, init_device_mesh
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    mesh = init_device_mesh("cpu", (world,))
    for label, rules in RULE_SETS.items():
        model = Net()
        plan = {}
        for i in range(len(model.h)):
            plan[f"h.{i}.up"] = ColwiseParallel()
            plan[f"h.{i}.down"] = RowwiseParallel()
        parallelize_module(model, mesh, plan)
        for module, local, placement in ((model.emb, "weight", Shard(1)),
                                         (model.lstm, "weight_hh_l0", Shard(0)),
                                         (model.head, "weight", Replicate())):
            tensor = distribute_tensor(getattr(module, local).detach(), mesh, [placement])
            setattr(module, local, nn.Parameter(tensor))
        init_plan = pit.init(model, rules, seed=SEED)
        assert pit.audit(model, init_plan) == []
        assert model.h[0].down.weight.placements == (Shard(1),)
        check_equal(model, reference(rules), f"tp x{world} {label}")
        replicated = model.head.weight.to_local()
        gathered = [torch.empty_like(replicated) for _ in range(world)]
        dist.all_gather(gathered, replicated)
        assert all(torch.equal(g, replicated) for g in gathered)  # no broadcast needed


@worker
def two_dimensional(rank: int, world: int, port: int) -> None:
    """A 2 x 2 mesh: FSDP-style Shard(0) on one axis and TP Shard(1) on the other."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor, init_device_mesh

    mesh = init_device_mesh("cpu", (2, world // 2), mesh_dim_names=("dp", "tp"))
    for label, rules in RULE_SETS.items():
        model = Net()
        for name, param in list(model.named_parameters()):
            placements = ([Shard(0), Shard(1)] if param.dim() == 2 else
                          [Shard(0), Replicate()])
            owner, _, local = name.rpartition(".")
            module = model.get_submodule(owner)
            setattr(module, local, nn.Parameter(distribute_tensor(param.detach(), mesh,
                                                                  placements)))
        pit.init(model, rules, seed=SEED)
        check_equal(model, reference(rules), f"2-D {label}")


@worker
def pipeline(rank: int, world: int, port: int) -> None:
    """Two stages, each owning half the blocks, initialised with the global names."""
    blocks = 4
    expected = reference("he", blocks)
    mine = range(rank * blocks // world, (rank + 1) * blocks // world)
    for i in mine:
        block = Block()
        pit.init(block, "he", seed=SEED, prefix=f"h.{i}.")
        for name, param in block.named_parameters():
            assert torch.equal(param.detach(), expected[f"h.{i}.{name}"]), name


def _refused(call, fragment: str) -> None:
    """``call()`` raises an InitError whose message contains ``fragment``."""
    from paraminit import InitError

    try:
        call()
    except InitError as error:
        assert fragment in str(error), error
    else:
        raise AssertionError(f"accepted; expected an InitError saying {fragment!r}")


@worker
def errors(rank: int, world: int, port: int) -> None:
    """A Partial placement, a mismatched device and a rank outside the mesh: InitErrors."""
    from torch.distributed.device_mesh import DeviceMesh
    from torch.distributed.tensor import DTensor, Partial, Shard, distribute_tensor

    mesh = DeviceMesh("cpu", list(range(world)))
    layer = nn.Linear(4, 4)
    before = layer.bias.detach().clone()
    layer.weight = nn.Parameter(DTensor.from_local(torch.zeros(4, 4), mesh, [Partial()]))
    _refused(lambda: pit.init(layer, seed=0), "has the placement Partial")
    assert torch.equal(layer.bias, before)  # nothing half-written

    with torch.device("meta"):
        layer = nn.Linear(4, 4)
    layer.weight = nn.Parameter(distribute_tensor(torch.zeros(4, 4, device="meta"), mesh,
                                                  [Shard(0)]))
    _refused(lambda: pit.init(layer, seed=0, device="cuda"), "whose mesh is on 'cpu'")

    model = nn.Sequential(nn.Linear(4, 4))
    model[0].weight = nn.Parameter(distribute_tensor(model[0].weight.detach(), mesh,
                                                     [Shard(0)]))
    _refused(lambda: pit.lsuv(model, torch.ones(8, 4)),
             "lsuv: parameter '0.weight' is a DTensor")

    solo = DeviceMesh("cpu", [0])  # every rank builds it; only rank 0 is in it
    layer = nn.Linear(4, 4)
    layer.weight = nn.Parameter(distribute_tensor(layer.weight.detach(), solo, [Shard(0)]))
    if rank == 0:
        pit.init(layer, seed=0)  # rank 0 is the whole mesh: fine
    else:
        _refused(lambda: pit.init(layer, seed=0), "that this process (rank 1) is not part of")
