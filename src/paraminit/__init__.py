"""paraminit: correct, explained, reproducible parameter initialization.

The top level imports no framework. ``paraminit.numpy`` is the reference backend;
``paraminit.torch`` is a drop-in for ``torch.nn.init``; ``paraminit.jax`` has
``jax.nn.initializers``' names; ``paraminit.flax`` initialises Flax NNX modules and Linen
params trees; ``paraminit.keras`` holds Keras 3 initializers (each imports its framework
only when that submodule is imported).

Example:
    >>> import paraminit as pi
    >>> spec = pi.resolve("he_normal", (256, 128, 3, 3), layout="torch")
    >>> round(spec.std, 7)
    0.0416667
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "ACTIVATIONS": "paraminit.core.gains",
    "ALIASES": "paraminit.core.schemes",
    "Fans": "paraminit.core.fans",
    "GAINS": "paraminit.core.gains",
    "InitError": "paraminit._errors",
    "InitSpec": "paraminit.core.spec",
    "LAYOUTS": "paraminit.core.fans",
    "REGISTRY": "paraminit.core.schemes",
    "Scheme": "paraminit.core.schemes",
    "Stream": "paraminit.core.stream",
    "compute_fans": "paraminit.core.fans",
    "gain": "paraminit.core.gains",
    "get_scheme": "paraminit.core.schemes",
    "numeric_gain": "paraminit.core.gains",
    "resolve": "paraminit.core.schemes",
    "schemes": "paraminit.core.schemes",
    "truncated_std_factor": "paraminit.core.spec",
}

__all__ = [
    "ACTIVATIONS",
    "ALIASES",
    "Fans",
    "GAINS",
    "InitError",
    "InitSpec",
    "LAYOUTS",
    "REGISTRY",
    "Scheme",
    "Stream",
    "compute_fans",
    "gain",
    "get_scheme",
    "numeric_gain",
    "resolve",
    "schemes",
    "truncated_std_factor",
]
assert sorted(_EXPORTS) == __all__

if TYPE_CHECKING:  # pragma: no cover
    from ._errors import InitError
    from .core.fans import LAYOUTS, Fans, compute_fans
    from .core.gains import ACTIVATIONS, GAINS, gain, numeric_gain
    from .core.schemes import ALIASES, REGISTRY, Scheme, get_scheme, resolve, schemes
    from .core.spec import InitSpec, truncated_std_factor
    from .core.stream import Stream


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    if name in ("numpy", "torch", "jax", "flax", "keras", "theory", "cli", "core",
                "experiments", "report"):
        return import_module(f"paraminit.{name}")
    raise AttributeError(f"module 'paraminit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__", "flax", "jax", "keras", "numpy", "theory",
                   "torch"])
