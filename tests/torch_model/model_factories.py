"""Tiny models for the CLI tests (``paraminit explain --model model_factories:small``)."""

from __future__ import annotations

import torch
import torch.nn as nn


class Scaled(nn.Module):
    """A custom module with a raw parameter no preset knows."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.gain = nn.Parameter(torch.ones(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) * self.gain


def small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, groups=1), nn.Flatten(), Scaled())


def not_a_model() -> int:
    return 3
