"""Per-layer signal diagnostics of any ``nn.Module``, through hooks, leaving it as it was.

``probe(model, inputs, targets)`` runs one forward (and, given targets or a loss, one
backward) pass and returns a :class:`LayerProbe` per parameterised module call: how the
forward signal (activation mean/std/rms, dead units) and the backward signal (gradient
norms of activations and weights) look at that depth. This is the measurement behind the
textbook argument for variance-preserving inits: activations and gradients keep their
scale through depth only when Var(w)·fan matches the nonlinearity (Glorot & Bengio 2010,
§4.2, Eq. 12-16; He et al. 2015, §2.2, Eq. 10 and 13; Qiu 2020, §7.3).

What counts as a *layer*: every module with parameters of its own (``recurse=False``),
in the order it is called; a module called twice gives two records (``name#2``).
Its *activation* is the output of the chain of parameter-free modules applied directly to
the layer's output, keeping its shape (``ReLU``, ``Tanh``, ``Dropout``, ...; data flow is
followed by tensor identity); with no such module it is the layer's own output.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    >>> records = probe(net, torch.randn(32, 8), torch.randint(0, 3, (32,)))
    >>> [r.name for r in records], records[0].activation
    (['0', '2'], '1')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from .._errors import InitError

__all__ = ["LayerProbe", "probe"]

# Modules whose units (channels) sit on axis 1 of their output; others keep units last
# (Linear, Embedding, LayerNorm, attention projections).
_CHANNEL_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm)


@dataclass(frozen=True)
class LayerProbe:
    """One layer call's statistics (all floats are Python floats; None = not measured).

    Forward, on the *activation* (see the module docstring): ``act_mean``, ``act_std``
    (population std over every element), ``act_rms`` = sqrt(mean(x²)), and
    ``dead_fraction``: the share of units whose activation is identical for every example
    and position of the batch (a ReLU that never fires, or any unit that carries no
    information about the input). ``pre_std`` is the std of the layer's own output.
    Backward (only with a loss): ``grad_norm`` = ‖∂L/∂(layer output)‖₂ and
    ``weight_grad_norm`` = ‖∂L/∂W‖₂. Weights: ``weight_std`` as it is, ``target_std``
    the std the init spec asked for (from ``specs``) and their ratio.
    """

    index: int
    name: str
    kind: str
    weight_name: str | None
    weight_shape: tuple[int, ...] | None
    units: int
    activation: str | None
    act_mean: float
    act_std: float
    act_rms: float
    pre_std: float
    dead_fraction: float
    grad_norm: float | None
    weight_grad_norm: float | None
    weight_std: float | None
    weight_norm: float | None
    target_std: float | None

    @property
    def weight_std_ratio(self) -> float | None:
        """weight_std / target_std (1 when the weights have the spec's std)."""
        if self.weight_std is None or not self.target_std:
            return None
        return self.weight_std / self.target_std

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite floats become None)."""
        out = asdict(self)
        out["weight_shape"] = list(self.weight_shape) if self.weight_shape else None
        out["weight_std_ratio"] = self.weight_std_ratio
        return {k: _finite_or_none(v) for k, v in out.items()}


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_Stats = tuple[float, float, float, dict[int, tuple[float, int]]]


@dataclass
class _Event:
    """One hooked module call during the forward pass."""

    name: str
    module: nn.Module
    is_layer: bool
    output: torch.Tensor
    source: torch.Tensor | None  # the module's first tensor input
    stats: _Stats
    grad: list[torch.Tensor]  # filled by a tensor hook during backward


def _unit_axis(module: nn.Module, output: torch.Tensor) -> int:
    if output.dim() <= 1:
        return 0
    return 1 if isinstance(module, _CHANNEL_FIRST) else output.dim() - 1


def _stats(output: torch.Tensor) -> _Stats:
    """mean, std, rms, and {unit axis: (dead fraction, units)} for both candidate unit
    axes (1 and last): which one applies depends on the *layer*, known only later, while
    the values must be read now (an in-place op may change them afterwards)."""
    values = output.detach().to(torch.float64)
    if values.numel() == 0:
        return (math.nan, math.nan, math.nan, {})
    mean = float(values.mean())
    std = float(values.std(correction=0))
    rms = float(values.square().mean().sqrt())
    dead = {}
    for axis in {0 if values.dim() <= 1 else 1, values.dim() - 1}:
        by_unit = values.movedim(axis, 0).reshape(values.shape[axis], -1)
        # A unit is dead when its activation is exactly the same for every example/position.
        spread = by_unit.amax(dim=1) - by_unit.amin(dim=1)
        dead[axis] = (float((spread == 0).to(torch.float64).mean()), int(values.shape[axis]))
    return (mean, std, rms, dead)


def _first_tensor(args: tuple[Any, ...]) -> torch.Tensor | None:
    for arg in args:
        if isinstance(arg, torch.Tensor):
            return arg
    return None


def _weight_of(module: nn.Module) -> tuple[str, torch.Tensor] | None:
    own = dict(module.named_parameters(recurse=False))
    if "weight" in own:
        return "weight", own["weight"]
    return next(iter(own.items()), None)


def _default_loss(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if not targets.is_floating_point():
        return nn.functional.cross_entropy(output, targets)
    return nn.functional.mse_loss(output, targets)


def _target_std(specs: Mapping[str, Any] | None, qualified: str) -> float | None:
    if not specs or qualified not in specs:
        return None
    spec = specs[qualified]
    return float(spec.std if hasattr(spec, "std") else spec)


def probe(
    model: nn.Module,
    inputs: Any,
    targets: torch.Tensor | None = None,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    *,
    specs: Mapping[str, Any] | None = None,
    mode: Literal["eval", "train", "keep"] = "eval",
) -> list[LayerProbe]:
    """Forward (and backward) statistics of every parameterised layer of ``model``.

    Args:
        model: any ``nn.Module``.
        inputs: a tensor, or a tuple of positional arguments for ``model``.
        targets: with ``loss_fn`` None the loss is ``cross_entropy`` for integer targets
            and ``mse_loss`` for float targets.
        loss_fn: ``loss_fn(output, targets)``, or ``loss_fn(output)`` when targets is None.
            With neither targets nor loss_fn only the forward pass runs and the gradient
            fields are None.
        specs: ``{parameter name: InitSpec or std}``; fills ``target_std`` of the layer
            whose weight has that qualified name (e.g. ``"fc1.weight"``).
        mode: run the pass in ``"eval"`` mode (default: no dropout, batch norm uses its
            running statistics), ``"train"`` mode, or ``"keep"`` the current modes.

    Returns:
        One :class:`LayerProbe` per layer call, in call order.

    The model is left as it was: hooks removed, every module's train/eval flag, every
    buffer (batch-norm running statistics) and every parameter's ``.grad`` restored, the
    parameters untouched (gradients come from ``torch.autograd.grad``, nothing steps),
    and torch's global RNG state unchanged (dropout in train mode draws from a fork).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
        >>> probe(net, torch.ones(2, 4))[0].grad_norm is None  # no loss: forward only
        True
    """
    if not isinstance(model, nn.Module):
        raise InitError(f"model must be a torch.nn.Module; received {type(model).__name__}")
    if mode not in ("eval", "train", "keep"):
        raise InitError(f"mode must be one of 'eval', 'train', 'keep'; received {mode!r}")
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    backward = targets is not None or loss_fn is not None
    names = {module: name for name, module in model.named_modules()}
    training = {module: module.training for module in names}
    buffers = [(buffer, buffer.detach().clone()) for buffer in model.buffers()]
    params = [p for p in model.parameters() if p.requires_grad]
    saved_grads = [p.grad for p in params]
    events: list[_Event] = []
    calls: dict[str, int] = {}

    def hook(module: nn.Module, hook_args: tuple[Any, ...], output: Any) -> None:
        if not isinstance(output, torch.Tensor):
            return
        name = names[module] or type(module).__name__
        calls[name] = calls.get(name, 0) + 1
        if calls[name] > 1:
            name = f"{name}#{calls[name]}"
        event = _Event(name, module, _has_own_parameters(module), output,
                       _first_tensor(hook_args), _stats(output), [])
        if backward and event.is_layer and output.requires_grad:
            output.register_hook(lambda grad, store=event.grad: store.append(grad.detach()))
        events.append(event)

    handles = [
        module.register_forward_hook(hook)
        for module in names
        if _has_own_parameters(module) or not any(True for _ in module.children())
    ]
    try:
        if mode != "keep":
            model.train(mode == "train")
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            output = model(*args)
            grads: tuple[torch.Tensor | None, ...] = (None,) * len(params)
            if backward:
                loss = _loss(output, targets, loss_fn)
                if params:
                    grads = torch.autograd.grad(loss, params, allow_unused=True)
        grad_of = {id(p): g for p, g in zip(params, grads, strict=True)}
        return _records(model, events, grad_of, specs, backward)
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training.items():
            module.training = flag
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for p, grad in zip(params, saved_grads, strict=True):
            p.grad = grad
        events.clear()


def _grad_norm(grad: torch.Tensor | None, expected: bool) -> float | None:
    """‖grad‖₂; 0.0 when a gradient was expected but the loss does not depend on it."""
    if grad is not None:
        return float(grad.to(torch.float64).norm())
    return 0.0 if expected else None


def _has_own_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def _loss(output: Any, targets: torch.Tensor | None,
          loss_fn: Callable[..., torch.Tensor] | None) -> torch.Tensor:
    if loss_fn is not None:
        loss = loss_fn(output) if targets is None else loss_fn(output, targets)
    elif isinstance(output, torch.Tensor):
        loss = _default_loss(output, targets)  # type: ignore[arg-type]
    else:
        raise InitError(
            f"the model returned {type(output).__name__}, not a tensor; pass loss_fn to "
            "turn its output into a scalar loss"
        )
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise InitError("the loss must be a scalar tensor; check loss_fn")
    return loss.reshape(())


def _records(model: nn.Module, events: list[_Event], grad_of: dict[int, torch.Tensor | None],
             specs: Mapping[str, Any] | None, backward: bool) -> list[LayerProbe]:
    prefix = {module: name for name, module in model.named_modules()}
    records: list[LayerProbe] = []
    for position, event in enumerate(events):
        if not event.is_layer:
            continue
        activation, act_stats = None, event.stats
        current = event.output
        for follower in events[position + 1:]:
            if follower.is_layer:
                break
            if follower.source is current and follower.output.shape == current.shape:
                activation, act_stats, current = follower.name, follower.stats, follower.output
        weight = _weight_of(event.module)
        weight_fields: dict[str, Any] = {"weight_name": None, "weight_shape": None,
                                         "weight_std": None, "weight_norm": None,
                                         "weight_grad_norm": None, "target_std": None}
        if weight is not None:
            local, tensor = weight
            qualified = f"{prefix[event.module]}.{local}" if prefix[event.module] else local
            data = tensor.detach().to(torch.float64)
            grad = grad_of.get(id(tensor))
            weight_fields = {
                "weight_name": qualified,
                "weight_shape": tuple(tensor.shape),
                "weight_std": float(data.std(correction=0)) if data.numel() else None,
                "weight_norm": float(data.norm()),
                "weight_grad_norm": _grad_norm(grad, backward and tensor.requires_grad),
                "target_std": _target_std(specs, qualified),
            }
        grad_norm = None
        if event.grad:
            grad_norm = float(sum(g.to(torch.float64).square().sum() for g in event.grad)
                              ** 0.5)
        elif backward:
            grad_norm = 0.0 if event.output.requires_grad else None
        mean, std, rms, dead_by_axis = act_stats
        dead, units = dead_by_axis.get(_unit_axis(event.module, event.output), (math.nan, 0))
        records.append(LayerProbe(
            index=len(records), name=event.name, kind=type(event.module).__name__,
            units=units, activation=activation, act_mean=mean, act_std=std, act_rms=rms,
            pre_std=event.stats[1], dead_fraction=dead, grad_norm=grad_norm, **weight_fields,
        ))
    return records
