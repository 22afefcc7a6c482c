"""Named recipes for real models: functions from parameter descriptions to rules.

Each recipe is a factory whose call gives a recipe object usable as ``rules=`` or
``preset=`` of :func:`paraminit.torch.init`; rules the user passes with ``preset=recipe``
come first. Each cites its paper or reference implementation and states what it assumes
about the architecture; a model without that structure is an :class:`~paraminit.InitError`
naming the module, never a silent no-op.
"""

from __future__ import annotations

from ._deep_transformer import (
                                DeepNormResidual,
                                DeepNormScale,
                                deepnorm,
                                deepnorm_constants,
                                t_fixup,
)

__all__: list[str] = ["DeepNormResidual", "DeepNormScale", "deepnorm", "deepnorm_constants",
                      "t_fixup"]
