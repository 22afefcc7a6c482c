"""Shared pieces of the Flax tests: models built locally and sampling-error checks."""

from __future__ import annotations

import math

import flax.linen as nn
import numpy as np
from flax import nnx

Z = 5.0  # |s/sigma - 1| <= Z * sqrt(1 / (2n)): a false alarm with probability ~6e-7


def assert_std(values: object, target: float, what: str = "") -> None:
    """The values' std equals ``target`` within sampling error (the normal law's standard
    error of s/sigma over n elements, sqrt(1/(2n)))."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    tolerance = Z * math.sqrt(1.0 / (2.0 * flat.size))
    measured = float(flat.std())
    assert abs(measured / target - 1.0) <= tolerance, (what, measured, target, tolerance)


def values(model: nnx.Module) -> dict[str, np.ndarray]:
    """Every nnx.Param of ``model`` by dotted path, as float32 NumPy copies."""
    return {".".join(map(str, path)): np.asarray(node.get_value(), dtype=np.float32)
            for path, node in nnx.iter_graph(model) if isinstance(node, nnx.Param)}


def mlp(seed: int = 0, dtype: object = None) -> nnx.Sequential:
    rngs = nnx.Rngs(seed)
    kw = {} if dtype is None else {"param_dtype": dtype}
    return nnx.Sequential(nnx.Linear(64, 32, rngs=rngs, **kw), nnx.relu,
                          nnx.Linear(32, 10, rngs=rngs, **kw))


class CNN(nnx.Module):
    """A grouped 3x3 conv (8 -> 16, 4 groups) and a 4x4 transposed conv (64 -> 32)."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        self.grouped = nnx.Conv(8, 16, (3, 3), feature_group_count=4, rngs=rngs)
        self.up = nnx.ConvTranspose(64, 32, (4, 4), rngs=rngs)
        self.norm = nnx.BatchNorm(16, rngs=rngs)
        self.gn = nnx.GroupNorm(16, num_groups=4, rngs=rngs)


class Block(nnx.Module):
    """Embed + MultiHeadAttention (in 12, 4 heads of 4, out 12) + LayerNorm/RMSNorm."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        self.embed = nnx.Embed(50, 12, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(num_heads=4, in_features=12, qkv_features=16,
                                           out_features=12, decode=False, rngs=rngs)
        self.ln = nnx.LayerNorm(12, rngs=rngs)
        self.rms = nnx.RMSNorm(12, rngs=rngs)


class Recurrent(nnx.Module):
    """An LSTM through nnx.RNN (OptimizedLSTMCell: gate-stacked kernels), a GRU cell and a
    per-gate LSTMCell."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        self.lstm = nnx.RNN(nnx.OptimizedLSTMCell(16, 32, rngs=rngs))
        self.gru = nnx.GRUCell(16, 32, rngs=rngs)
        self.cell = nnx.LSTMCell(16, 32, rngs=rngs)


class LinenMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(32)(x))  # Dense_0: (64, 32)
        return nn.Dense(10)(x)  # Dense_1: (32, 10)


class LinenCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(16, (3, 3), feature_group_count=4)(x)
        x = nn.BatchNorm(use_running_average=False)(x)
        return nn.ConvTranspose(8, (4, 4))(x)


class LinenBlock(nn.Module):
    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(50, 12)(tokens)
        x = nn.MultiHeadDotProductAttention(num_heads=4, qkv_features=16, out_features=12)(x)
        x = nn.LayerNorm()(x)
        return nn.RNN(nn.OptimizedLSTMCell(32))(x)
