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
from ._mup import Mup, MuReadout, attention_scale, mup, param_groups
from ._residual import (
    RESIDUAL_SCALE_LABEL,
    SCALAR_NAMES,
    Branch,
    Fixup,
    ResidualGate,
    ResidualScale,
    ZerO,
    find_branches,
    fixup,
    rezero,
    skipinit,
    zer_o,
)
from ._scaled import DepthScaledNormal, gpt2, megatron

__all__ = ["Branch", "DeepNormResidual", "DeepNormScale", "DepthScaledNormal", "Fixup",
           "MuReadout", "Mup", "RESIDUAL_SCALE_LABEL", "ResidualGate", "ResidualScale",
           "SCALAR_NAMES", "ZerO", "attention_scale", "deepnorm", "deepnorm_constants",
           "find_branches", "fixup", "gpt2", "megatron", "mup", "param_groups", "rezero",
           "skipinit", "t_fixup", "zer_o"]
