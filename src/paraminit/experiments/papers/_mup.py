"""Yang et al. 2022: under μP the best learning rate stays put as the width grows; under the
standard parametrization it drifts.

Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen & Gao 2022, "Tensor Programs
V: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer", Figure 1 (training
loss against log2 learning rate for widths 128-8192: the optimum moves under SP, not under
μP) and Figure 5 / §D.1, the coord check (activation size per layer against width after a
few steps: flat under μP, growing under SP); Yang & Hu 2021, "Tensor Programs IV", ICML.

Here a 2-hidden-layer ReLU MLP on the digits, trained with Adam on minibatches, at widths
64-1024. SP: He-normal weights, zero biases, one global learning rate. μP:
:func:`paraminit.torch.recipes.mup` with the width-64 model as the base (zero readout) and
:func:`~paraminit.torch.recipes.param_groups` (hidden and readout learning rates / width
multiplier). Both go through :func:`paraminit.torch.init`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ... import torch as pit
from ...torch.recipes import mup, param_groups
from ._base import Benchmark, Outcome, Progress, check, digits

BASE_WIDTH = 64
BATCH = 128
COORD_LR = 2.0**-6  # a learning rate both parametrizations train at, for the coord check
COORD_STEPS = 5
STEPS = 30  # short: the loss still tells learning rates apart (by 100 steps all fit digits)


def _mlp(inputs: int, classes: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width),
                         nn.ReLU(), nn.Linear(width, classes))


def _setup(parametrization: str, width: int, lr: float, seed: int, inputs: int,
           classes: int) -> tuple[nn.Sequential, torch.optim.Optimizer]:
    model = _mlp(inputs, classes, width)
    if parametrization == "mup":
        # delta: the dims that differ from a model twice as wide are the widths, so the
        # base width itself gets μP's rules (with multipliers 1) too
        recipe = mup(_mlp(inputs, classes, BASE_WIDTH),
                     delta=_mlp(inputs, classes, 2 * BASE_WIDTH))
        plan = pit.init(model, recipe, seed=seed)
        return model, torch.optim.Adam(param_groups(model, plan, lr=lr))
    pit.init(model, "he", seed=seed)
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def _batches(n: int, steps: int, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, n, (BATCH,), generator=generator) for _ in range(steps)]


def _train(parametrization: str, width: int, lr: float, seed: int, steps: int,
           x: torch.Tensor, y: torch.Tensor) -> float:
    """The training loss on the whole training set after ``steps`` Adam steps (inf if it
    diverged)."""
    model, optimizer = _setup(parametrization, width, lr, seed, x.shape[1], int(y.max()) + 1)
    for index in _batches(len(y), steps, seed):
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        if not torch.isfinite(loss):
            return math.inf
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = float(nn.functional.cross_entropy(model(x), y))
    return final if math.isfinite(final) else math.inf


def _coords(parametrization: str, width: int, seed: int, x: torch.Tensor,
            y: torch.Tensor) -> list[float]:
    """Mean |activation| of each layer's output (two hidden layers, logits) on a batch after
    ``COORD_STEPS`` Adam steps at ``COORD_LR``."""
    model, optimizer = _setup(parametrization, width, COORD_LR, seed, x.shape[1],
                              int(y.max()) + 1)
    for index in _batches(len(y), COORD_STEPS, seed):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()
    with torch.no_grad():
        h1 = model[1](model[0](x[:256]))
        h2 = model[3](model[2](h1))
        out = model[4](h2)
    return [float(t.abs().mean()) for t in (h1, h2, out)]


def _slope(widths: list[int], values: list[float]) -> float:
    """Least-squares slope of log value against log width (0: flat)."""
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


def run(quick: bool, progress: Progress) -> Outcome:
    # One thread: these small matmuls gain little from a second, and on a shared machine
    # two threads waiting for each other made a step up to 30 times slower (measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(quick, progress)
    finally:
        torch.set_num_threads(threads)


def _run(quick: bool, progress: Progress) -> Outcome:
    data = digits()
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x = x.reshape(len(x), -1)
    widths = [64, 256] if quick else [64, 256, 1024]
    coord_widths = widths if quick else [64, 128, 256, 512, 1024]  # 5 steps each: cheap
    log2_lrs = list(range(-10, -4)) if quick else list(range(-13, -3))
    seeds = (0,)
    total = 2 * len(widths) * len(log2_lrs) * len(seeds)
    done = 0
    records: list[dict[str, Any]] = []
    best: dict[str, list[int]] = {}
    for parametrization in ("sp", "mup"):
        best[parametrization] = []
        for width in widths:
            losses = []
            for log2_lr in log2_lrs:
                runs = [_train(parametrization, width, 2.0**log2_lr, seed, STEPS, x, y)
                        for seed in seeds]
                done += len(seeds)
                progress({"event": "measure", "task": f"{parametrization} width {width}",
                          "done": done, "total": total})
                loss = float(np.mean(runs))
                losses.append(loss)
                records.append({"kind": "lr_sweep", "parametrization": parametrization,
                                "width": width, "log2_lr": log2_lr,
                                "loss": loss if math.isfinite(loss) else None})
            best[parametrization].append(log2_lrs[int(np.argmin(losses))])
    coords: dict[str, list[list[float]]] = {}
    for parametrization in ("sp", "mup"):
        coords[parametrization] = [_coords(parametrization, width, 0, x, y)
                                   for width in coord_widths]
        for width, layers in zip(coord_widths, coords[parametrization], strict=True):
            records.append({"kind": "coord_check", "parametrization": parametrization,
                            "width": width, "layers": ["hidden 1", "hidden 2", "logits"],
                            "l1": layers})
    slopes = {p: [_slope(coord_widths, [layers[i] for layers in coords[p]]) for i in range(3)]
              for p in coords}
    mup_spread = max(best["mup"]) - min(best["mup"])
    sp_drift = best["sp"][0] - best["sp"][-1]
    # SP with Adam: a hidden weight's update moves its output by ~ width x lr, so the best lr
    # falls ~ 1/width (log2 of the width ratio grid points); ask for half of that
    expected_drift = math.log2(widths[-1] / widths[0]) / 2
    checks = [
        check("μP: the best learning rate transfers across widths",
              "best log2 lr per width " + ", ".join(map(str, best["mup"])),
              "within one grid point (spread <= 1)", mup_spread <= 1),
        check("SP: the best learning rate drifts down as the width grows",
              "best log2 lr per width " + ", ".join(map(str, best["sp"])),
              f"width {widths[-1]}'s at least {expected_drift:g} grid points below width "
              f"{widths[0]}'s", sp_drift >= expected_drift),
        check("coord check, μP: activation size flat in width",
              "log-log slopes " + ", ".join(f"{s:+.2f}" for s in slopes["mup"]),
              "|slope| <= 0.15 for every layer", max(map(abs, slopes["mup"])) <= 0.15),
        check("coord check, SP: activations grow with width",
              "log-log slopes " + ", ".join(f"{s:+.2f}" for s in slopes["sp"]),
              "slope >= 0.3 for the logits", slopes["sp"][-1] >= 0.3),
    ]
    settings = {"dataset": data.name, "arch": "mlp 2 hidden ReLU", "widths": widths,
                "base_width": BASE_WIDTH, "optimizer": "Adam", "batch": BATCH, "steps": STEPS,
                "log2_lrs": log2_lrs, "seeds": list(seeds),
                "loss": "cross-entropy on the whole training set after the steps",
                "coord_check": {"widths": coord_widths, "lr": COORD_LR, "steps": COORD_STEPS,
                                "statistic": "mean |activation| on 256 training inputs"},
                "best_log2_lr": best, "coord_slopes": slopes}
    return Outcome(settings=settings, records=records, checks=checks)


BENCHMARK = Benchmark(
    name="mup2022",
    title="μP: learning-rate transfer across widths",
    cite="Yang et al. 2022",
    paper="Yang et al. 2022, 'Tensor Programs V: Tuning Large Neural Networks via Zero-Shot "
          "Hyperparameter Transfer', Figure 1, Figure 5 and Tables 3/8; Yang & Hu 2021, "
          "'Tensor Programs IV', ICML",
    claim="A 2-hidden-layer ReLU MLP on the digits trained with Adam at widths 64-1024: under "
          "μP the best learning rate stays within one grid point and activations after a few "
          "steps are flat in width; under SP the best learning rate drifts down and the "
          "logits grow with width.",
    run=run,
)
