"""The settings of a comparison: :class:`CompareConfig`, its defaults and its checks."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from .._errors import InitError
from ..core import validate
from ._data import Dataset
from ._methods import TEXTBOOK_METHODS, WEIGHTS_TEXT, Method, bias_text
from ._models import ACTIVATIONS, ARCHS, build_model

__all__ = ["OPTIMIZERS", "CompareConfig", "build", "default_workers"]

OPTIMIZERS = ("sgd", "adam")
_ARCH_DEFAULTS = {"mlp": (30, 128), "cnn": (10, 16)}  # (depth, width)
_LR_DEFAULTS = {"sgd": 0.05, "adam": 1e-3}


def default_workers(runs: int) -> int:
    """min(2, CPU count, runs), at least 1: two processes fill two cores (docs/compare.md)."""
    return max(1, min(2, os.cpu_count() or 1, runs))


@dataclass(frozen=True)
class CompareConfig:
    """Every setting of a comparison. ``None`` picks the default for the arch/optimizer.

    Defaults (measured in docs/compare.md: about a minute on 2 idle CPU cores, minutes when
    other jobs share them): a 30-layer,
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
            workers=self.workers if self.workers is not None else default_workers(
                len(self.methods) * len(self.seeds)),
        )
        config._check()
        return config

    def _check(self) -> None:
        validate.integer("depth", self.depth, minimum=1,
                         hint=" (the number of weight layers, output included)")
        for name in ("width", "steps", "batch_size", "probe_size", "workers", "threads"):
            validate.integer(name, getattr(self, name), minimum=1)
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
            "weights": WEIGHTS_TEXT,
            "biases": bias_text(self.bias_std),
            "workers": self.workers, "torch_threads_per_run": self.threads,
        }


def build(config: CompareConfig, data: Dataset) -> nn.Sequential:
    """The network of ``config`` for ``data``, not yet initialised."""
    return build_model(config.arch, data.input_shape, data.classes, depth=config.depth,
                       width=config.width, activation=config.activation)  # type: ignore[arg-type]
