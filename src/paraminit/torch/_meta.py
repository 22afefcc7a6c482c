"""Constructing models without torch's default initialisation work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch.nn as nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd

__all__ = ["skip_default_init"]

# The standard modules' own initialisers, called from their __init__.
_METHODS: tuple[tuple[type, str], ...] = (
    (nn.Linear, "reset_parameters"),
    (nn.Bilinear, "reset_parameters"),
    (_ConvNd, "reset_parameters"),
    (nn.Embedding, "reset_parameters"),
    (nn.EmbeddingBag, "reset_parameters"),
    (nn.RNNBase, "reset_parameters"),
    (nn.MultiheadAttention, "_reset_parameters"),
    (nn.Transformer, "_reset_parameters"),
    (nn.LayerNorm, "reset_parameters"),
    (nn.GroupNorm, "reset_parameters"),
    (nn.RMSNorm, "reset_parameters"),
    (_NormBase, "reset_parameters"),
)


def _skipped(self: Any) -> None:
    """paraminit.torch.skip_default_init: torch's default initialisation skipped."""


@contextmanager
def skip_default_init() -> Iterator[None]:
    """Construct standard modules without running their default initialisation.

    Inside the context the ``reset_parameters`` (``_reset_parameters`` for
    ``nn.MultiheadAttention`` and ``nn.Transformer``) of Linear, Bilinear, Conv*/ConvTranspose*,
    Embedding(Bag), RNN/LSTM/GRU, MultiheadAttention, Transformer, LayerNorm, GroupNorm,
    RMSNorm and BatchNorm/InstanceNorm are no-ops, so their parameters keep the
    uninitialised memory ``torch.empty`` gave them until :func:`paraminit.torch.init` fills
    them. BatchNorm running statistics keep the zeros/ones they are created with. Custom
    modules' own initialisation (``nn.init.*`` calls in their ``__init__``) still runs, so
    their parameters are never left as garbage. The methods are restored on exit, also on
    error. Not thread-safe: other threads constructing modules meanwhile skip their init too.

    For no allocation at all, construct on the meta device instead (``with
    torch.device("meta"): model = Net()``) and materialise with ``init(model, device="cpu")``.

    Example:
        >>> import paraminit.torch as pit
        >>> with pit.skip_default_init():
        ...     layer = nn.Linear(4096, 4096)   # no kaiming_uniform_ pass
        >>> _ = pit.init(layer, "he")
    """
    saved = [(cls, name, cls.__dict__[name]) for cls, name in _METHODS if name in cls.__dict__]
    try:
        for cls, name, _ in saved:
            setattr(cls, name, _skipped)
        yield
    finally:
        for cls, name, method in saved:
            setattr(cls, name, method)
