"""The networks of the experiments: a plain deep MLP and a plain deep CNN, no shortcuts.

No residual connections and no normalization layers, on purpose: with them a network
forgives its init (that is what they were invented for), and the point here is to see
what the init alone does to the signal (Glorot & Bengio 2010, §4; He et al. 2015, §2.2).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .._errors import InitError

__all__ = ["ACTIVATIONS", "ARCHS", "build_model", "hidden_layers"]

# Every activation paraminit has a gain for (core.gains.GAINS, but the conv names, which
# are linear maps); "linear" (the identity) makes a deep linear network (Saxe et al. 2014).
# leaky_relu is torch's default slope 0.01, the gain's default too.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "selu": nn.SELU,
    "gelu": nn.GELU, "silu": nn.SiLU, "linear": nn.Identity, "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU, "mish": nn.Mish, "softplus": nn.Softplus, "swish": nn.SiLU,
}
ARCHS = ("mlp", "cnn")


def _mlp(input_shape: tuple[int, ...], classes: int, depth: int, width: int,
         activation: type[nn.Module]) -> nn.Sequential:
    features = 1
    for size in input_shape:
        features *= size
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    for i in range(1, depth):
        layers[f"fc{i}"] = nn.Linear(features if i == 1 else width, width)
        layers[f"act{i}"] = activation()
    layers["out"] = nn.Linear(features if depth == 1 else width, classes)
    return nn.Sequential(layers)


def _cnn(input_shape: tuple[int, ...], classes: int, depth: int, width: int,
         activation: type[nn.Module]) -> nn.Sequential:
    spatial = len(input_shape) - 1
    if spatial not in (1, 2):
        raise InitError(f"--arch cnn needs inputs shaped (C, L) or (C, H, W); received "
                        f"examples shaped {input_shape}")
    conv = nn.Conv1d if spatial == 1 else nn.Conv2d
    pool = nn.AdaptiveAvgPool1d if spatial == 1 else nn.AdaptiveAvgPool2d
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = input_shape[0]
    for i in range(1, depth):
        layers[f"conv{i}"] = conv(channels if i == 1 else width, width, 3, padding=1)
        layers[f"act{i}"] = activation()
    layers["pool"] = pool(1)
    layers["flatten"] = nn.Flatten()
    layers["out"] = nn.Linear(channels if depth == 1 else width, classes)
    return nn.Sequential(layers)


def build_model(arch: str, input_shape: tuple[int, ...], classes: int, *, depth: int,
                width: int, activation: str) -> nn.Sequential:
    """A network to be initialised by the caller (its values are torch's defaults).

    ``depth`` counts the weight layers including the linear output layer: an ``mlp`` of
    depth D is Flatten → (Linear → act) × (D-1) → Linear; a ``cnn`` is
    (Conv k=3, same padding → act) × (D-1) → global average pool → Linear. Built inside
    ``torch.random.fork_rng``, so torch's default init leaves the global RNG as it was (the
    meta device would avoid that init, but imports sympy, ~0.6 s, on first use).
    """
    build = {"mlp": _mlp, "cnn": _cnn}[arch]
    with torch.random.fork_rng(devices=[]):
        return build(tuple(input_shape), classes, depth, width, ACTIVATIONS[activation])


def hidden_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The weight layers whose outputs are hidden units: every one but the output layer."""
    return [(name, module) for name, module in model.named_children()
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)) and name != "out"]
