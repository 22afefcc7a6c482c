"""What a compare run's outcome is called: the verdict rules and the symmetry check.

Qiu 2020, §7.3.1: zero init leaves every hidden unit identical (``symmetric``); the other
verdicts read the losses and accuracies of a run (``diverges``, ``stalls``, ``trains``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._models import hidden_layers

__all__ = [
    "DIVERGENCE_FACTOR",
    "STALL_MARGIN",
    "SYMMETRY_TOLERANCE",
    "VERDICTS",
    "VERDICT_RULES",
    "decide",
    "symmetric_layer",
]

VERDICTS = ("symmetric", "diverges", "stalls", "trains")

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
