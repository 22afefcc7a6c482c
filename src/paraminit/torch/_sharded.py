"""DTensor parameters: which box of the global tensor this rank holds, and writing it.

A DTensor (``torch.distributed.tensor``, as FSDP2's ``fully_shard`` and tensor parallelism
make them) has a *global* shape, which the planner reads, and a *local* tensor on each rank.
The rank's box of the global tensor comes from torch's own shard-layout helper
(``compute_local_shape_and_global_offset``), so uneven splits (7 rows on 2 ranks: 4 + 3) and
2-D meshes are laid out exactly as torch lays them out. Element-wise laws are then sampled for
that box only: the values are those of the whole tensor, without a collective.
"""

from __future__ import annotations

import sys

import torch
import torch.nn as nn

from .._errors import InitError
from ..core.engines import Box

__all__ = ["is_dtensor", "local_box", "local_tensor", "materialise"]


def is_dtensor(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a DTensor (without importing torch.distributed when unused)."""
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(tensor, module.DTensor)


def local_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The rank's local tensor of a DTensor (sharing its storage), else ``tensor`` itself."""
    return tensor.to_local() if is_dtensor(tensor) else tensor


def local_box(name: str, param: torch.Tensor, device: torch.device | None) -> Box:
    """The box of the global tensor this rank holds (the whole tensor for a plain one); its
    ``box_shape`` is the local tensor's shape.

    Raises:
        InitError: a rank outside the DTensor's mesh, a ``Partial`` placement (a sum of
            per-rank terms has no values of its own to initialise), or ``device`` of
            another type than the mesh's.
    """
    shape = tuple(int(d) for d in param.shape)
    if not is_dtensor(param):
        return Box.whole(shape)
    from torch.distributed.tensor import Partial
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    mesh = param.device_mesh
    if mesh.get_coordinate() is None:
        raise InitError(
            f"parameter {name!r} is a DTensor on a mesh of ranks {mesh.mesh.flatten().tolist()} "
            f"that this process (rank {torch.distributed.get_rank()}) is not part of: call "
            "init on the ranks of its mesh only")
    partial = [p for p in param.placements if isinstance(p, Partial)]
    if partial:
        raise InitError(
            f"parameter {name!r} has the placement {partial[0]!r}: its global value is a sum "
            "over ranks, which has no per-element values to initialise. Redistribute it to "
            "Shard or Replicate placements before init")
    if device is not None and device.type != mesh.device_type:
        raise InitError(
            f"device={str(device)!r} for parameter {name!r}, whose mesh is on "
            f"{mesh.device_type!r}: pass device={mesh.device_type!r} (each rank's own device "
            "of that type) or build the mesh on the device you want")
    local_shape, offset = compute_local_shape_and_global_offset(shape, mesh, param.placements)
    starts = tuple(int(o) for o in offset)
    return Box(shape, starts, tuple(a + int(n) for a, n in zip(starts, local_shape, strict=True)))


def materialise(param: torch.Tensor, values: torch.Tensor) -> nn.Parameter:
    """A new parameter in place of a meta one: ``values`` (the local part for a DTensor)."""
    if not is_dtensor(param):
        return nn.Parameter(values, requires_grad=param.requires_grad)
    from torch.distributed.tensor import DTensor

    tensor = DTensor.from_local(values, param.device_mesh, param.placements,
                                run_check=False, shape=param.shape, stride=param.stride())
    return nn.Parameter(tensor, requires_grad=param.requires_grad)
