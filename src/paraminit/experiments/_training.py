"""One compare run: initialise, probe at init, train, evaluate, decide; and the optimisers.

The loop is the same for every method of a comparison: the same network, optimizer,
learning-rate schedule and mini-batch order (which depends on the seed only).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..torch import probe
from ._config import CompareConfig, build
from ._data import Dataset
from ._methods import Method, initialise
from ._verdicts import decide, symmetric_layer

__all__ = ["Tensors", "make_optimizer", "run", "train"]


@dataclass(frozen=True)
class Tensors:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @classmethod
    def of(cls, data: Dataset) -> Tensors:
        return cls(*(torch.from_numpy(np.ascontiguousarray(a)) for a in
                     (data.x_train, data.y_train, data.x_test, data.y_test)))


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over the whole set, in eval mode, in chunks."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(y), 2048):
            logits = model(x[start:start + 2048])
            target = y[start:start + 2048]
            loss_sum += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
    model.train()
    return loss_sum / len(y), correct / len(y)


def _lr_factor(step: int, steps: int, warmup: float) -> float:
    """Linear warm-up over ``warmup``·steps, then cosine decay to 0 (Loshchilov & Hutter
    2017, SGDR, Eq. 5 without restarts; warm-up as Goyal et al. 2017, §2.2)."""
    warm = round(warmup * steps)
    if step < warm:
        return (step + 1) / warm
    span = max(steps - warm, 1)
    return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / span))


def _batches(n: int, size: int, steps: int, seed: int) -> list[torch.Tensor]:
    """Mini-batch indices: reshuffled epochs (a torch generator seeded by ``seed``), the
    same for every method of a seed; a short last batch is dropped."""
    generator = torch.Generator().manual_seed(seed)
    size = min(size, n)
    out: list[torch.Tensor] = []
    while len(out) < steps:
        order = torch.randperm(n, generator=generator)
        out += [order[i:i + size] for i in range(0, n - size + 1, size)][: steps - len(out)]
    return out


class _SGD:
    """SGD with heavy-ball momentum, as ``torch.optim.SGD(lr, momentum)`` (dampening 0,
    no Nesterov): v ← m·v + g, w ← w − lr·v (Polyak 1964; Sutskever et al. 2013, Eq. 1-2).

    Written out (three foreach ops per step) instead of using ``torch.optim``: constructing
    a torch optimizer imports ``torch._dynamo`` (about 1.5 s per process here).
    """

    def __init__(self, params: list[torch.Tensor], momentum: float) -> None:
        self.params, self.momentum = params, momentum
        self.velocity = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        grads = [p.grad for p in self.params]
        torch._foreach_mul_(self.velocity, self.momentum)
        torch._foreach_add_(self.velocity, grads)
        torch._foreach_add_(self.params, self.velocity, alpha=-lr)


class _Adam:
    """Adam as ``torch.optim.Adam(lr)``, betas (0.9, 0.999), eps 1e-8, with bias correction
    (Kingma & Ba 2015, Algorithm 1): w ← w − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps)."""

    betas = (0.9, 0.999)
    eps = 1e-8

    def __init__(self, params: list[torch.Tensor]) -> None:
        self.params, self.t = params, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        beta1, beta2 = self.betas
        self.t += 1
        grads = [p.grad for p in self.params]
        torch._foreach_lerp_(self.m, grads, 1.0 - beta1)  # m ← β₁m + (1−β₁)g
        torch._foreach_mul_(self.v, beta2)
        torch._foreach_addcmul_(self.v, grads, grads, 1.0 - beta2)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, math.sqrt(1.0 - beta2**self.t))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, denom, -lr / (1.0 - beta1**self.t))


def make_optimizer(config: CompareConfig, model: nn.Module) -> _SGD | _Adam:
    params = list(model.parameters())
    if config.optimizer == "adam":
        return _Adam(params)
    return _SGD(params, config.momentum)


def train(model: nn.Module, config: CompareConfig, tensors: Tensors, seed: int,
          notify: Callable[[dict[str, Any]], None]) -> tuple[list[float], bool]:
    """``config.steps`` optimizer steps on the training set, stopping at the first
    non-finite loss; returns the mini-batch losses and whether all were finite."""
    optimizer = make_optimizer(config, model)
    curve: list[float] = []
    for step, index in enumerate(_batches(len(tensors.y_train), config.batch_size,
                                          config.steps, seed)):
        loss = nn.functional.cross_entropy(model(tensors.x_train[index]),
                                           tensors.y_train[index])
        value = loss.detach().item()
        curve.append(value)
        notify({"event": "step", "step": step + 1, "steps": config.steps, "loss": value})
        if not math.isfinite(value):
            return curve, False
        model.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step(config.lr * _lr_factor(step, config.steps, config.warmup))
    return curve, True


def run(config: CompareConfig, data: Dataset, tensors: Tensors, method: Method, seed: int,
        notify: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """One (method, seed) run of ``config``: its record (see :func:`paraminit.experiments.compare`).

    The network is initialised by :func:`~paraminit.experiments.initialise` (the planner,
    then lsuv on the probe batch for ``lsuv``), probed at init on the probe batch, trained
    (:func:`train`), evaluated on the train and test sets, and judged (:func:`decide`).
    """
    started = time.perf_counter()
    model = build(config, data)
    size = min(config.probe_size, len(tensors.y_train))
    specs = initialise(model, method, seed, bias_std=config.bias_std,
                       inputs=tensors.x_train[:size])
    model.train()
    layers = probe(model, tensors.x_train[:size], tensors.y_train[:size], specs=specs)
    symmetric_at_init = symmetric_layer(model)
    initial_loss, initial_accuracy = _evaluate(model, tensors.x_train, tensors.y_train)
    curve, finite = train(model, config, tensors, seed, notify)
    final_loss, train_accuracy = _evaluate(model, tensors.x_train, tensors.y_train)
    _, test_accuracy = _evaluate(model, tensors.x_test, tensors.y_test)
    symmetric_after = symmetric_layer(model)
    verdict, reason = decide(
        symmetric_at_init=symmetric_at_init is not None,
        symmetric_after=symmetric_after is not None, finite=finite,
        initial_loss=initial_loss, final_loss=final_loss, train_accuracy=train_accuracy,
        chance_accuracy=data.chance_accuracy)
    layer_dicts = [r.to_dict() for r in layers]
    return {
        "method": method.label, "scheme": method.scheme, "options": dict(method.options),
        "seed": seed, "verdict": verdict, "verdict_reason": reason,
        "initial_loss": _clean(initial_loss), "initial_accuracy": initial_accuracy,
        "final_loss": _clean(final_loss), "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy, "chance_accuracy": data.chance_accuracy,
        "steps_run": len(curve), "finite": finite,
        "symmetric_layer_at_init": symmetric_at_init, "symmetric_layer_after": symmetric_after,
        "act_std_last": layer_dicts[-1]["act_std"] if layer_dicts else None,
        "grad_ratio": _ratio(layer_dicts),
        "loss_curve": [_clean(v) for v in curve],
        "layers": layer_dicts,
        "settings": config.settings(),
        "seconds": time.perf_counter() - started,
    }


def _clean(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _ratio(layers: list[dict[str, Any]]) -> float | None:
    """‖∂L/∂W‖ of the last layer over that of the first (None when either is 0)."""
    if not layers:
        return None
    first, last = layers[0]["weight_grad_norm"], layers[-1]["weight_grad_norm"]
    if not first or last is None:
        return None
    return last / first
