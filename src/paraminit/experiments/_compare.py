"""``compare``: initialization methods trained side by side on a real data set.

Each (method, seed) run builds the same network, initialises every weight with
``paraminit.torch.init_(w, method, seed=seed, name=<qualified name>, **options)`` and every
bias (every 1-D parameter) with zeros (or N(0, bias_std²)); the data-dependent method
``lsuv`` runs :func:`paraminit.torch.lsuv` on the probe batch instead. It then probes it
at init (:func:`paraminit.torch.probe`: activation std and gradient norms per layer),
trains it with the same optimizer, schedule and mini-batch order, and evaluates it. The
verdict follows from stated rules (:func:`decide`). Nothing here prints: progress goes to
an optional callback, records are returned (and handed to ``on_record`` as each run finishes).

It reproduces, on a real network, the textbook's account of initialization (Qiu 2020,
§7.3): zero init leaves every hidden unit identical (symmetry), too small random weights
make the signal vanish with depth, Xavier keeps the variance of linear/tanh units (Glorot &
Bengio 2010, §4.2, Eq. 12-16), He/MSRA that of ReLU units (He et al. 2015, §2.2, Eq. 10),
orthogonal keeps norms of linear maps exactly (Saxe et al. 2014, §3).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import platform
import queue
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from .._errors import InitError
from ..core.schemes import get_scheme, resolve
from ..torch import init_
from ..torch._lsuv import check_options as check_lsuv_options
from ..torch._lsuv import lsuv
from ..torch._probe import probe
from ._data import Dataset, load_dataset
from ._models import ACTIVATIONS, ARCHS, build_model, hidden_layers

__all__ = [
    "DIVERGENCE_FACTOR",
    "OPTIMIZERS",
    "QUICK_METHODS",
    "STALL_MARGIN",
    "SYMMETRY_TOLERANCE",
    "TEXTBOOK_METHODS",
    "VERDICTS",
    "VERDICT_RULES",
    "CompareConfig",
    "Method",
    "compare",
    "decide",
    "document",
    "initialise",
    "method_details",
    "run_all",
    "summarize",
]

# The seed collection's methods (Qiu 2020, §7.3.1-7.3.3), in the order the book gives them.
TEXTBOOK_METHODS = (
    "zeros", "uniform", "normal", "fixed_variance_normal", "fixed_variance_uniform",
    "xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "orthogonal", "msra",
)
# One of each failure mode and the fix, for --quick (and the tests).
QUICK_METHODS = ("zeros", "normal", "xavier_normal", "he_normal")
OPTIMIZERS = ("sgd", "adam")
VERDICTS = ("symmetric", "diverges", "stalls", "trains")
def _apply_lsuv(model: nn.Module, inputs: torch.Tensor, seed: int,
                options: Mapping[str, Any]) -> None:
    lsuv(model, inputs, seed=seed, **options)


# Methods that are not per-tensor registry schemes: they need the model and data, and
# `apply(model, inputs, seed, options)` initialises every weight.
MODEL_METHODS: dict[str, dict[str, Any]] = {
    "lsuv": {
        "apply": _apply_lsuv,
        "summary": "LSUV: orthonormal pre-init, then each layer in forward order rescaled "
                   "until its output std on the probe batch is 1 (within tol)",
        "formula": "W <- orthogonal; repeat W <- W / std(layer output) while |std - 1| >= tol",
        "paper": "Mishkin & Matas 2016, 'All you need is a good init', ICLR, Algorithm 1",
        "options": ("target_std", "tol", "max_iter", "center"),
        "check": check_lsuv_options,
    },
}

# Verdict thresholds (see VERDICT_RULES and docs/compare.md for why these values).
SYMMETRY_TOLERANCE = 1e-6  # units identical: max |w_u - w_0| <= 1e-6 * max |w| (float32 noise)
DIVERGENCE_FACTOR = 10.0  # final loss above 10x the loss at init: training made things worse
STALL_MARGIN = 0.10  # train accuracy within 10 points of the majority-class rate: no learning

VERDICT_RULES = (
    ("symmetric", "at init and still after training, every hidden unit of some hidden layer has "
                  "the same incoming weights and bias (max |w_u - w_0| <= 1e-6 x max |w|): "
                  "the layer acts as a single unit and gradient descent cannot separate them"),
    ("diverges", "a training loss is NaN/inf, or the final train loss exceeds 10x the train "
                 "loss at init"),
    ("stalls", "train accuracy below chance + 10 points (chance = the majority-class share of "
               "the training labels)"),
    ("trains", "none of the above"),
)


@dataclass(frozen=True)
class Method:
    """A registry scheme with its options, applied to every weight of the network."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        """The canonical registry name (aliases resolved), or the model method's name."""
        if self.name in MODEL_METHODS:
            return self.name
        return get_scheme(self.name).name

    @property
    def label(self) -> str:
        """``name`` or ``name:key=value,...`` as typed on the command line."""
        if not self.options:
            return self.name
        return f"{self.name}:" + ",".join(f"{k}={v}" for k, v in self.options.items())

    @classmethod
    def coerce(cls, value: Method | str | tuple[str, Mapping[str, Any]]) -> Method:
        """From a Method, ``"he_normal:mode=fan_out"`` or ``("he_normal", {...})``."""
        if isinstance(value, Method):
            return value
        if isinstance(value, str):
            from ..cli import parse_method

            name, options = parse_method(value, model_methods=tuple(MODEL_METHODS))
            return cls(name, options)
        name, options = value
        if name not in MODEL_METHODS:
            get_scheme(name)
        return cls(name, dict(options))


_ARCH_DEFAULTS = {"mlp": (30, 128), "cnn": (10, 16)}  # (depth, width)
_LR_DEFAULTS = {"sgd": 0.05, "adam": 1e-3}


@dataclass(frozen=True)
class CompareConfig:
    """Every setting of a comparison. ``None`` picks the default for the arch/optimizer.

    Defaults (measured in docs/compare.md: about a minute on 2 CPU cores): a 30-layer,
    128-wide ReLU MLP on the digits; SGD with momentum 0.9, lr 0.05, batch 128, 150 steps,
    linear warm-up over the first 10 % of steps then cosine decay to 0, gradient-norm
    clipping at 1.0; seeds 0, 1, 2. A ``cnn`` defaults to depth 10, width 16; ``adam`` to
    lr 1e-3.

    Runs are spread over ``workers`` processes (default: min(2, CPU count, runs)), each
    run on ``threads`` torch threads (default 1). The numbers depend on ``threads`` (the
    summation order of a parallel matmul) but not on ``workers``.
    """

    dataset: str = "digits"
    arch: str = "mlp"
    depth: int | None = None
    width: int | None = None
    activation: str = "relu"
    bias_std: float = 0.0
    methods: tuple[Method, ...] = tuple(Method(m) for m in TEXTBOOK_METHODS)
    steps: int = 150
    lr: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    batch_size: int = 128
    clip: float | None = 1.0
    warmup: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2)
    split_seed: int = 0
    test_fraction: float = 0.25
    probe_size: int = 256
    workers: int | None = None
    threads: int = 1

    def resolved(self) -> CompareConfig:
        """A copy with the ``None`` defaults filled in and every field checked."""
        if self.arch not in ARCHS:
            raise InitError(f"arch must be one of {', '.join(map(repr, ARCHS))}; "
                            f"received {self.arch!r}")
        if self.optimizer not in OPTIMIZERS:
            raise InitError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}; "
                            f"received {self.optimizer!r}")
        if self.activation not in ACTIVATIONS:
            raise InitError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; "
                            f"received {self.activation!r}")
        depth, width = _ARCH_DEFAULTS[self.arch]
        config = replace(
            self,
            depth=depth if self.depth is None else self.depth,
            width=width if self.width is None else self.width,
            lr=_LR_DEFAULTS[self.optimizer] if self.lr is None else self.lr,
            methods=tuple(Method.coerce(m) for m in self.methods),
            seeds=tuple(self.seeds),
            workers=self.workers if self.workers is not None else max(1, min(
                2, os.cpu_count() or 1, len(self.methods) * len(self.seeds))),
        )
        config._check()
        return config

    def _check(self) -> None:
        _positive_int("depth", self.depth, hint="the number of weight layers, output included")
        _positive_int("width", self.width)
        _positive_int("steps", self.steps)
        _positive_int("batch_size", self.batch_size)
        _positive_int("probe_size", self.probe_size)
        _positive_int("workers", self.workers)
        _positive_int("threads", self.threads)
        if not (isinstance(self.bias_std, (int, float)) and not isinstance(self.bias_std, bool)
                and math.isfinite(self.bias_std) and self.bias_std >= 0):
            raise InitError(f"bias_std must be a finite number >= 0 (0: zero biases); "
                            f"received {self.bias_std!r}")
        for name, value in (("lr", self.lr), ("clip", self.clip)):
            if value is not None and not (isinstance(value, (int, float)) and
                                          math.isfinite(value) and value > 0):
                raise InitError(f"{name} must be a finite number > 0; received {value!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise InitError(f"momentum must be in [0, 1); received {self.momentum!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise InitError(f"warmup must be a fraction of the steps in [0, 1); "
                            f"received {self.warmup!r}")
        if not self.methods:
            raise InitError("methods must name at least one scheme, e.g. he_normal")
        labels = [m.label for m in self.methods]
        if len(set(labels)) != len(labels):
            twice = sorted({x for x in labels if labels.count(x) > 1})
            raise InitError(f"methods must be distinct; {', '.join(twice)} given twice")
        if not self.seeds:
            raise InitError("seeds must hold at least one seed, e.g. 0,1,2")
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
                raise InitError(f"seeds must be ints in [0, 2**64 - 1]; received {seed!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise InitError(f"seeds must be distinct; received {list(self.seeds)}")

    def settings(self) -> dict[str, Any]:
        """The resolved settings as a JSON-ready dict (stored with every record)."""
        return {
            "dataset": self.dataset, "arch": self.arch, "depth": self.depth,
            "width": self.width, "activation": self.activation,
            "methods": [m.label for m in self.methods], "steps": self.steps, "lr": self.lr,
            "optimizer": self.optimizer,
            "momentum": self.momentum if self.optimizer == "sgd" else None,
            "batch_size": self.batch_size, "clip_grad_norm": self.clip,
            "schedule": f"linear warm-up over {self.warmup:.0%} of the steps, then cosine "
                        "decay to 0",
            "seeds": list(self.seeds), "split_seed": self.split_seed,
            "test_fraction": self.test_fraction, "probe_size": self.probe_size,
            "weights": "init_(w, method, seed=seed, name=<parameter name>, **options)",
            "biases": _bias_text(self.bias_std),
            "workers": self.workers, "torch_threads_per_run": self.threads,
        }


def _positive_int(name: str, value: Any, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        extra = f" ({hint})" if hint else ""
        raise InitError(f"{name} must be a positive int{extra}; received {value!r}")


# ---------------------------------------------------------------------------------------
# building, initialising, checking methods against the real shapes


def _model(config: CompareConfig, data: Dataset) -> nn.Sequential:
    return build_model(config.arch, data.input_shape, data.classes, depth=config.depth,
                       width=config.width, activation=config.activation)  # type: ignore[arg-type]


def _weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(name, p) for name, p in model.named_parameters() if p.dim() >= 2]


def _bias_text(bias_std: float) -> str:
    if bias_std == 0:
        return "zeros (every 1-D parameter)"
    return (f"N(0, {bias_std:g}^2): init_(b, 'normal', std={bias_std:g}, seed=seed, "
            "name=<parameter name>) for every 1-D parameter")


def initialise(model: nn.Module, method: Method, seed: int, *, bias_std: float = 0.0,
               inputs: torch.Tensor | None = None) -> dict[str, Any]:
    """Initialise ``model`` in place as a compare run does; returns the weight specs.

    Every 1-D parameter (bias) is zeroed, or drawn from N(0, bias_std²) on its own stream;
    every other parameter gets ``init_(p, method, seed=seed, name=<its name>, **options)``.
    A model method (``lsuv``: ``paraminit.torch.lsuv(model, inputs, seed=seed,
    **options)``) instead initialises the weights after the biases; it needs ``inputs`` and
    returns no specs.
    """
    model_method = MODEL_METHODS.get(method.name)
    if model_method is not None and inputs is None:
        raise InitError(f"method {method.name!r} needs inputs: the batch it measures "
                        "outputs on")
    specs = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                if model_method is None:
                    init_(p, method.name, seed=seed, name=name, **method.options)
                    specs[name] = resolve(method.name, tuple(p.shape), **method.options)
            elif bias_std == 0:
                p.zero_()
            else:
                init_(p, "normal", std=bias_std, seed=seed, name=name)
    if model_method is not None:
        model_method["apply"](model, inputs, seed, method.options)
    return specs


def _model_method_details(method: Method) -> dict[str, Any]:
    about = MODEL_METHODS[method.name]
    unknown = sorted(set(method.options) - set(about["options"]))
    if unknown:
        raise InitError(f"method {method.label!r}: unknown option(s) {', '.join(unknown)}; "
                        f"{method.name} takes {', '.join(about['options'])}")
    try:  # every value checked now, before a run (or the CLI's --out) is touched
        about["check"](**method.options)
    except InitError as error:
        raise InitError(f"method {method.label!r}: {error}") from None
    return {"method": method.label, "scheme": method.name, "options": dict(method.options),
            "summary": about["summary"], "formula": about["formula"], "paper": about["paper"],
            "notes": [], "specs": []}


def method_details(config: CompareConfig, data: Dataset) -> list[dict[str, Any]]:
    """Per method: summary, formula, paper, notes and, per distinct weight shape, the
    spec's ``explain()`` (fans read, std/bound used). Raises InitError on bad options."""
    config = config.resolved()
    weights = _weights(_model(config, data))
    details = []
    for method in config.methods:
        if method.name in MODEL_METHODS:
            details.append(_model_method_details(method))
            continue
        scheme = get_scheme(method.name)
        by_shape: dict[tuple[int, ...], list[str]] = {}
        for name, p in weights:
            by_shape.setdefault(tuple(p.shape), []).append(name)
        specs = []
        for shape, names in by_shape.items():
            try:
                spec = resolve(method.name, shape, **method.options)
            except InitError as error:
                raise InitError(f"method {method.label!r} on {names[0]} {shape}: {error}") from None
            fans = spec.fans
            specs.append({
                "parameters": names, "shape": list(shape), "std": spec.std,
                "bound": spec.bound, "fan_in": fans.fan_in if fans else None,
                "fan_out": fans.fan_out if fans else None, "explain": spec.explain(),
            })
        details.append({
            "method": method.label, "scheme": scheme.name, "options": dict(method.options),
            "summary": scheme.summary, "formula": scheme.formula, "paper": scheme.paper,
            "notes": list(scheme.notes), "specs": specs,
        })
    return details


# ---------------------------------------------------------------------------------------
# verdicts


def symmetric_layer(model: nn.Module) -> str | None:
    """The first hidden layer whose units all have identical incoming weights and bias.

    Units are the rows of the (out, in·k) weight matrix (with the bias appended); they are
    identical when max_u max_j |row_u[j] - row_0[j]| <= SYMMETRY_TOLERANCE · max |row|
    (so an all-zero layer is symmetric). Such units compute the same function of the
    input and receive the same gradient, forever (Qiu 2020, §7.3.1).
    """
    for name, module in hidden_layers(model):
        rows = module.weight.detach().to(torch.float64).reshape(module.weight.shape[0], -1)
        if module.bias is not None:
            rows = torch.cat([rows, module.bias.detach().to(torch.float64)[:, None]], dim=1)
        if rows.shape[0] < 2:
            continue
        spread = float((rows - rows[:1]).abs().max())
        scale = float(rows.abs().max())
        if math.isfinite(spread) and spread <= SYMMETRY_TOLERANCE * scale:
            return name
    return None


def decide(*, symmetric_at_init: bool, symmetric_after: bool, finite: bool,
           initial_loss: float, final_loss: float, train_accuracy: float,
           chance_accuracy: float) -> tuple[str, str]:
    """The verdict and its reason, by VERDICT_RULES, checked in that order."""
    if symmetric_at_init and symmetric_after:
        return "symmetric", "hidden units identical at init and after training"
    if not finite or not math.isfinite(final_loss):
        return "diverges", "non-finite training loss"
    if final_loss > DIVERGENCE_FACTOR * initial_loss:
        return "diverges", (f"final loss {final_loss:.4g} > {DIVERGENCE_FACTOR:g} x initial "
                            f"{initial_loss:.4g}")
    if train_accuracy < chance_accuracy + STALL_MARGIN:
        return "stalls", (f"train accuracy {train_accuracy:.1%} < chance {chance_accuracy:.1%}"
                          f" + {STALL_MARGIN:.0%}")
    return "trains", f"train accuracy {train_accuracy:.1%}"


# ---------------------------------------------------------------------------------------
# one run


@dataclass(frozen=True)
class _Tensors:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @classmethod
    def of(cls, data: Dataset) -> _Tensors:
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


def _optimizer(config: CompareConfig, model: nn.Module) -> _SGD | _Adam:
    params = list(model.parameters())
    if config.optimizer == "adam":
        return _Adam(params)
    return _SGD(params, config.momentum)


def _run(config: CompareConfig, data: Dataset, tensors: _Tensors, method: Method, seed: int,
         notify: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    started = time.perf_counter()
    model = _model(config, data)
    size = min(config.probe_size, len(tensors.y_train))
    specs = initialise(model, method, seed, bias_std=config.bias_std,
                       inputs=tensors.x_train[:size])
    model.train()
    layers = probe(model, tensors.x_train[:size], tensors.y_train[:size], specs=specs)
    symmetric_at_init = symmetric_layer(model)
    initial_loss, initial_accuracy = _evaluate(model, tensors.x_train, tensors.y_train)
    optimizer = _optimizer(config, model)
    curve: list[float] = []
    finite = True
    for step, index in enumerate(_batches(len(tensors.y_train), config.batch_size,
                                          config.steps, seed)):
        loss = nn.functional.cross_entropy(model(tensors.x_train[index]),
                                           tensors.y_train[index])
        value = loss.detach().item()
        curve.append(value)
        notify({"event": "step", "step": step + 1, "steps": config.steps, "loss": value})
        if not math.isfinite(value):
            finite = False
            break
        model.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step(config.lr * _lr_factor(step, config.steps, config.warmup))
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
    grid = _grid_axes(configs)
    workers = workers if workers is not None else max(1, min(2, os.cpu_count() or 1, len(tasks)))
    _positive_int("workers", workers)
    _positive_int("threads", threads)
    records: dict[int, dict[str, Any]] = {}

    def finished(number: int, record: dict[str, Any]) -> None:
        records[number] = record
        if on_record is not None:
            on_record(record)
        if progress is not None:
            progress({**_context(tasks[number - 1], len(tasks), grid), "event": "run_end",
                      "record": record})

    if workers == 1 or len(tasks) == 1:
        _serial(tasks, threads, grid, progress, finished)
    else:
        _parallel(tasks, workers, threads, grid, progress, finished)
    return [records[number] for number in sorted(records)]


_Task = tuple[int, CompareConfig, Dataset, Method, int]


def _grid_axes(configs: Sequence[CompareConfig]) -> tuple[str, ...]:
    """The settings that differ between the configs of a grid (shown with each run)."""
    keys = ("arch", "depth", "width", "activation", "bias_std", "lr", "steps", "optimizer")
    return tuple(k for k in keys if len({getattr(c, k) for c in configs}) > 1)


def _context(task: _Task, runs: int, grid: tuple[str, ...] = ()) -> dict[str, Any]:
    """What a progress event says about its run; ``where`` names the grid cell."""
    number, config, _, method, seed = task
    context = {"run": number, "runs": runs, "method": method.label, "seed": seed}
    if grid:
        context["where"] = ", ".join(f"{k} {getattr(config, k)}" for k in grid)
    return context


def _execute(task: _Task, runs: int, grid: tuple[str, ...],
             emit: Callable[[dict[str, Any]], None], every: int = 1) -> dict[str, Any]:
    number, config, data, method, seed = task
    context = _context(task, runs, grid)

    def notify(event: dict[str, Any]) -> None:
        if event["step"] % every == 0 or event["step"] == event["steps"]:
            emit({**context, **event})

    emit({**context, "event": "run_start", "steps": config.steps})
    record = _run(config, data, _Tensors.of(data), method, seed, notify)
    record["run"] = number
    return record


def _serial(tasks: list[_Task], threads: int, grid: tuple[str, ...],
            progress: Callable[[dict[str, Any]], None] | None,
            finished: Callable[[int, dict[str, Any]], None]) -> None:
    """Runs one after the other in this process, on ``threads`` torch threads (restored)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for task in tasks:
            finished(task[0], _execute(task, len(tasks), grid,
                                       progress or (lambda event: None)))
    finally:
        torch.set_num_threads(previous)


_EVENTS: Any = None  # the worker's event queue (set by _worker_start)


def _worker_start(events: Any, threads: int) -> None:
    """Worker set-up: Ctrl-C is the parent's to handle (it terminates the pool)."""
    global _EVENTS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _EVENTS = events


def _worker_run(job: tuple[_Task, int, tuple[str, ...]]) -> tuple[int, dict[str, Any]]:
    task, runs, grid = job
    return task[0], _execute(task, runs, grid, _EVENTS.put, every=5)


def _parallel(tasks: list[_Task], workers: int, threads: int, grid: tuple[str, ...],
              progress: Callable[[dict[str, Any]], None] | None,
              finished: Callable[[int, dict[str, Any]], None]) -> None:
    """Runs spread over ``workers`` spawned processes; progress events come back through a
    queue. On any exception (Ctrl-C included) the pool is terminated and it propagates;
    runs finished before that have already been passed to ``finished``."""
    context = multiprocessing.get_context("spawn")
    events = context.Queue()

    def drain() -> None:
        while True:
            try:
                event = events.get_nowait()
            except queue.Empty:
                return
            if progress is not None:
                progress(event)

    pool = context.Pool(workers, initializer=_worker_start, initargs=(events, threads))
    try:
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
        pool.terminate()
        pool.join()
        events.close()


# ---------------------------------------------------------------------------------------
# summaries and the results document


def _mean_sd(values: Sequence[float | None]) -> dict[str, float | None]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "sd": None}
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return {"mean": float(np.mean(finite)), "sd": sd}


def summarize(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per method (in first-seen order): the majority verdict and mean ± sd.

    A tie between verdicts goes to the one listed first in VERDICTS (the worse one).
    """
    by_method: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_method.setdefault(record["method"], []).append(record)
    rows = []
    for method, group in by_method.items():
        counts = Counter(r["verdict"] for r in group)
        verdict = max(VERDICTS, key=lambda v: (counts[v], -VERDICTS.index(v)))
        rows.append({
            "method": method, "scheme": group[0]["scheme"], "runs": len(group),
            "seeds": [r["seed"] for r in group], "verdict": verdict,
            "verdict_count": counts[verdict], "verdicts": dict(counts),
            "act_std_last": _mean_sd([r["act_std_last"] for r in group]),
            "grad_ratio": _mean_sd([r["grad_ratio"] for r in group]),
            "final_loss": _mean_sd([r["final_loss"] for r in group]),
            "train_accuracy": _mean_sd([r["train_accuracy"] for r in group]),
            "test_accuracy": _mean_sd([r["test_accuracy"] for r in group]),
        })
    return rows


def versions() -> dict[str, str]:
    """Versions of what produced the numbers."""
    import scipy

    return {"paraminit": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "platform": platform.platform()}


def document(config: CompareConfig, data: Dataset, records: Sequence[Mapping[str, Any]], *,
             complete: bool, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The results file's content: settings, data, versions, rules, methods, summary,
    records. ``complete`` is False while runs are still missing (interrupted run)."""
    config = config.resolved()
    return {
        "paraminit": __version__, "command": "compare", "complete": complete,
        "runs_expected": len(config.methods) * len(config.seeds), "runs_done": len(records),
        "settings": config.settings(), "dataset": data.describe(), "versions": versions(),
        "verdict_rules": [{"verdict": v, "rule": r} for v, r in VERDICT_RULES],
        "methods": details if details is not None else method_details(config, data),
        "summary": summarize(records), "records": list(records),
    }
