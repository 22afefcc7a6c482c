"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas 2016).

Mishkin & Matas 2016, "All you need is a good init", ICLR, Algorithm 1: pre-initialise
every layer with an orthonormal matrix (Saxe et al. 2014), then, from the first layer to
the last, divide the layer's weight by the std of its output on a mini-batch until that
std is 1 within a tolerance or an iteration budget runs out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._errors import InitError
from ..core import validate
from ..core.stream import _check_seed
from ._generic import init_
from ._sharded import is_dtensor

__all__ = ["LSUVRecord", "check_lsuv_options", "lsuv"]


@dataclass(frozen=True)
class LSUVRecord:
    """What LSUV did to one layer.

    ``iterations`` counts weight rescalings (forward passes = iterations + 1);
    ``initial_std`` is the output std after the orthonormal pre-init, ``final_std`` the
    one measured after the last rescaling; ``scale`` is the product of the factors the
    weight was multiplied by. A layer the forward pass never reached keeps its
    orthonormal init: ``reached`` False, stds NaN, ``converged`` False.
    """

    name: str
    iterations: int
    initial_std: float
    final_std: float
    converged: bool
    scale: float
    reached: bool = True


class _Captured(Exception):
    """Raised from a forward hook to stop the forward pass once a layer's output is seen."""


def _layers(model: nn.Module) -> dict[str, tuple[nn.Module, nn.Parameter]]:
    """Modules owning a ``weight`` Parameter of >= 2 dims, first owner of each weight."""
    found: dict[str, tuple[nn.Module, nn.Parameter]] = {}
    seen: set[int] = set()
    for name, module in model.named_modules():
        weight = module._parameters.get("weight")
        if isinstance(weight, nn.Parameter) and weight.dim() >= 2 and id(weight) not in seen:
            seen.add(id(weight))
            found[name] = (module, weight)
    return found


def _call(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, Sequence) and not isinstance(inputs, str):
        return model(*inputs)
    raise InitError(
        f"lsuv: inputs must be a tensor, a tuple/list of positional inputs or a dict of "
        f"keyword inputs; received {type(inputs).__name__}"
    )


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


@contextmanager
def _hooks(modules: Sequence[nn.Module], hook: Callable[..., Any]) -> Iterator[None]:
    handles = [module.register_forward_hook(hook) for module in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _forward_order(model: nn.Module, inputs: Any,
                   layers: dict[str, tuple[nn.Module, nn.Parameter]]) -> list[str]:
    """Layer names in the order their first call finishes in one full forward pass."""
    names = {id(module): name for name, (module, _) in layers.items()}
    order: list[str] = []

    def record(module: nn.Module, args: Any, output: Any) -> None:
        name = names[id(module)]
        if name not in order:
            order.append(name)

    with _hooks([module for module, _ in layers.values()], record):
        try:
            _call(model, inputs)
        except InitError:
            raise
        except Exception as error:
            raise InitError(
                f"lsuv: the forward pass failed on the given inputs ({type(error).__name__}: "
                f"{error}); pass inputs the model accepts, e.g. a batch from its data"
            ) from error
    return order


def _output_of(model: nn.Module, inputs: Any, name: str, module: nn.Module) -> torch.Tensor:
    """The layer's output on ``inputs`` (its first call); the pass stops right after it."""
    captured: list[torch.Tensor] = []

    def capture(module: nn.Module, args: Any, output: Any) -> None:
        tensor = _first_tensor(output)
        if tensor is None:
            raise InitError(
                f"lsuv: layer {name!r} ({type(module).__name__}) returned "
                f"{type(output).__name__}, not a tensor; LSUV needs a tensor output to measure"
            )
        captured.append(tensor.detach())
        raise _Captured

    with _hooks([module], capture), suppress(_Captured):
        _call(model, inputs)
    if not captured:
        raise InitError(
            f"lsuv: layer {name!r} ran in the first forward pass but not in a later one on "
            "the same inputs; LSUV needs a forward pass that calls the same layers each time"
        )
    return captured[0]


def _channel_dim(module: nn.Module, output: torch.Tensor, bias: torch.Tensor) -> int | None:
    """The output dim the bias is added along: last for Linear-like, 1 for conv-like."""
    size = bias.numel()
    if isinstance(module, (nn.Linear, nn.Bilinear)) and output.shape[-1] == size:
        return output.dim() - 1
    if output.dim() >= 2 and output.shape[1] == size:
        return 1
    if output.shape[-1] == size:
        return output.dim() - 1
    return None


def _stats(output: torch.Tensor, channel: int | None) -> tuple[float, torch.Tensor | None]:
    values = output.double()
    std = float(values.std(correction=0))
    if channel is None:
        return std, None
    dims = [d for d in range(values.dim()) if d != channel]
    return std, values.mean(dim=dims)


def check_lsuv_options(*, target_std: Any = 1.0, tol: Any = 0.1, max_iter: Any = 10,
                       center: Any = False, seed: Any = 0) -> None:
    """Check :func:`lsuv`'s options without a model or data: what ``lsuv`` checks first.

    For callers that take the options long before the model and the batch exist, such as
    ``paraminit compare``, which checks ``--methods lsuv:tol=0.05`` before any run.

    Raises:
        InitError: ``target_std`` or ``tol`` not a finite number > 0, ``max_iter`` not an
            int >= 0, ``center`` not a bool, or a bad ``seed``; the message starts with
            ``"lsuv: "`` and names the option.

    Example:
        >>> check_lsuv_options(tol=0.05, center=True)  # fine: returns None
    """
    for argument, value in (("target_std", target_std), ("tol", tol)):
        try:
            validate.real(argument, value, positive=True)
        except InitError:
            raise InitError(f"lsuv: {argument} must be a finite number > 0; received "
                            f"{validate.show(value)}") from None
    try:
        validate.integer("max_iter", max_iter, minimum=0, hint=" (rescalings per layer)")
        validate.boolean("center", center)
    except InitError as error:
        raise InitError(f"lsuv: {error}") from None
    _check_seed(seed)


def lsuv(
    model: nn.Module,
    inputs: Any,
    *,
    target_std: float = 1.0,
    tol: float = 0.1,
    max_iter: int = 10,
    center: bool = False,
    seed: int = 0,
) -> list[LSUVRecord]:
    """Layer-sequential unit-variance init, in place (Mishkin & Matas 2016, Algorithm 1).

    1. Every layer weight (a ``weight`` Parameter with >= 2 dims: Linear, Conv*,
       Embedding, ...) gets an orthonormal init,
       ``init_(w, "orthogonal", seed=seed, name=f"{layer}.weight")`` (Saxe et al. 2014).
    2. In forward order (found by forward hooks on one pass over ``inputs``), each layer's
       output std s is measured on ``inputs`` and, while ``|s - target_std| >= tol`` and
       fewer than ``max_iter`` rescalings were made, the weight is multiplied by
       ``target_std / s``. Biases are left as they are, so a layer with a non-zero bias
       can need more than one step.

    ``center=True`` also sets each bias so that the layer's output has zero mean per
    output channel (bias -= channel mean, at every step); such a layer converges only
    once every channel mean is within ``tol`` of 0 as well. Layers without a bias are
    only rescaled.

    Args:
        model: the network; modified in place.
        inputs: a mini-batch: a tensor (``model(inputs)``), a tuple/list
            (``model(*inputs)``) or a dict (``model(**inputs)``).
        target_std: the std each layer's output is brought to (the paper: 1).
        tol: convergence tolerance on the std, absolute (the paper's Tol_var = 0.1 is
            on the variance).
        max_iter: rescalings allowed per layer (the paper's T_max).
        center: also zero the per-channel output mean through the bias.
        seed: keys the orthonormal pre-init's streams (with each weight's name).

    Returns:
        One :class:`LSUVRecord` per layer, in forward order, then the layers the forward
        pass never reached. Nothing is printed.

    Raises:
        InitError: the model has no layer with a >= 2-D weight, the forward pass fails on
            ``inputs``, or an option is out of range.

    Note:
        The passes run in eval mode (dropout off, BatchNorm normalising with its running
        statistics, which are not updated) and without autograd; every module's own
        train/eval flag is restored afterwards, and hooks are always removed. A layer
        whose output std is 0 or not finite cannot be rescaled: it is reported with
        ``converged=False``.

    Example:
        >>> net = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 10))
        >>> records = lsuv(net, torch.randn(128, 32))
        >>> all(r.converged for r in records)
        True
    """
    check_lsuv_options(target_std=target_std, tol=tol, max_iter=max_iter, center=center,
                       seed=seed)
    if not isinstance(model, nn.Module):
        raise InitError(f"lsuv: model must be a torch.nn.Module; received {type(model).__name__}")
    sharded = next((name for name, p in model.named_parameters() if is_dtensor(p)), None)
    if sharded is not None:
        raise InitError(
            f"lsuv: parameter {sharded!r} is a DTensor. LSUV rescales each layer by the std "
            "of its whole output, which per-rank shards do not see; run lsuv on the unsharded "
            "model (one process), then shard it, or initialise the sharded model with "
            "paraminit.torch.init")
    layers = _layers(model)
    if not layers:
        raise InitError(
            f"lsuv: {type(model).__name__} has no layer with a weight of >= 2 dims "
            "(Linear, Conv*, ...); there is nothing to initialise"
        )
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            for name, (_, weight) in layers.items():
                init_(weight, "orthogonal", seed=seed, name=f"{name}.weight" if name else "weight")
            order = _forward_order(model, inputs, layers)
            records = [_fit(model, inputs, name, *layers[name], target_std=target_std,
                            tol=tol, max_iter=max_iter, center=center) for name in order]
    finally:
        for module, training in modes.items():
            module.training = training
    unreached = [LSUVRecord(name, 0, math.nan, math.nan, False, 1.0, reached=False)
                 for name in layers if name not in order]
    return records + unreached


def _fit(model: nn.Module, inputs: Any, name: str, module: nn.Module, weight: nn.Parameter,
         *, target_std: float, tol: float, max_iter: int, center: bool) -> LSUVRecord:
    bias = module._parameters.get("bias") if center else None
    output = _output_of(model, inputs, name, module)
    channel = _channel_dim(module, output, bias) if bias is not None else None
    std, means = _stats(output, channel)
    initial, scale, iterations = std, 1.0, 0

    def converged() -> bool:
        centred = means is None or float(means.abs().max()) < tol
        return abs(std - target_std) < tol and centred

    while not converged() and iterations < max_iter and math.isfinite(std) and std > 0:
        if means is not None and bias is not None:
            bias.sub_(means.to(bias.dtype).reshape(bias.shape))
        factor = target_std / std
        weight.mul_(factor)
        scale *= factor
        iterations += 1
        std, means = _stats(_output_of(model, inputs, name, module), channel)
    return LSUVRecord(name, iterations, initial, std, converged(), scale)
