"""paraminit for PyTorch: a drop-in replacement for ``torch.nn.init``, and more.

Every public function of ``torch.nn.init`` is here with the same signature, defaults and
meaning (deprecated non-underscore names included), so ``import paraminit.torch as init``
works in place of ``import torch.nn.init as init``. The difference is where the numbers come
from: paraminit's counter-based Philox stream, seeded by one
``torch.randint(0, 2**63 - 1, (1,), generator=generator)`` draw from the given generator
(torch's default one when None). ``torch.manual_seed`` therefore reproduces, successive
calls differ, and values are drawn in float64 and cast once, so low-precision tensors keep
their law (and bounded laws their bounds).

Additions: ``init_`` (any registry scheme, explicit seed and parameter name, values equal
to ``paraminit.numpy.sample``), ``lecun_normal_``, ``lecun_uniform_``,
``variance_scaling_``, ``msra_``; ``probe`` (lazy: per-layer statistics at init),
``lsuv`` (data-dependent init; ``check_lsuv_options`` checks its options alone). Model
level: ``init(model, rules)`` → ``Plan`` with ``Rule``/presets, ``audit``,
``skip_default_init``, rules as JSON/TOML (``docs/model_init.md``).

Example:
    >>> import torch
    >>> import paraminit.torch as init
    >>> w = torch.empty(256, 128, 3, 3)
    >>> _ = init.kaiming_normal_(w, nonlinearity="relu")
    >>> _ = init.init_(w, "he_normal", seed=0, name="conv1.weight")
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..plan import PRESETS as PRESETS
from ..plan import ROLES as ROLES
from ..plan import (
    InitWarning,
    Plan,
    PlanRow,
    Rule,
    load_rules,
    rules_from_json,
    rules_from_toml,
    rules_to_json,
    rules_to_toml,
)
from . import _dropin
from ._describe import register_describer
from ._dropin import (
    calculate_gain,
    constant,
    constant_,
    dirac,
    dirac_,
    eye,
    eye_,
    kaiming_normal,
    kaiming_normal_,
    kaiming_uniform,
    kaiming_uniform_,
    normal,
    normal_,
    ones_,
    orthogonal,
    orthogonal_,
    sparse,
    sparse_,
    trunc_normal_,
    uniform,
    uniform_,
    xavier_normal,
    xavier_normal_,
    xavier_uniform,
    xavier_uniform_,
    zeros_,
)
from ._generic import init_, lecun_normal_, lecun_uniform_, msra_, variance_scaling_
from ._lsuv import LSUVRecord, check_lsuv_options, lsuv
from ._meta import skip_default_init
from ._model import Audit, AuditRecord, audit, init
from ._structured import conv_orthogonal_, delta_orthogonal_, random_walk_

# PRESETS and ROLES (tuples) are public too, outside __all__, which lists callables.
__all__ = [
    "Audit",
    "AuditRecord",
    "InitWarning",
    "LSUVRecord",
    "Plan",
    "PlanRow",
    "Rule",
    "audit",
    "calculate_gain",
    "check_lsuv_options",
    "constant",
    "constant_",
    "conv_orthogonal_",
    "delta_orthogonal_",
    "dirac",
    "dirac_",
    "eye",
    "eye_",
    "init",
    "init_",
    "kaiming_normal",
    "kaiming_normal_",
    "kaiming_uniform",
    "kaiming_uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "load_rules",
    "lsuv",
    "msra_",
    "normal",
    "normal_",
    "ones_",
    "orthogonal",
    "orthogonal_",
    "probe",
    "random_walk_",
    "register_describer",
    "rules_from_json",
    "rules_from_toml",
    "rules_to_json",
    "rules_to_toml",
    "skip_default_init",
    "sparse",
    "sparse_",
    "trunc_normal_",
    "uniform",
    "uniform_",
    "variance_scaling_",
    "xavier_normal",
    "xavier_normal_",
    "xavier_uniform",
    "xavier_uniform_",
    "zeros_",
]


# torch's private helpers, which libraries (timm, transformers, ...) call directly.
_calculate_correct_fan = _dropin._calculate_correct_fan
_calculate_fan_in_and_fan_out = _dropin._calculate_fan_in_and_fan_out
_no_grad_fill_ = _dropin._no_grad_fill_
_no_grad_normal_ = _dropin._no_grad_normal_
_no_grad_trunc_normal_ = _dropin._no_grad_trunc_normal_
_no_grad_uniform_ = _dropin._no_grad_uniform_
_no_grad_zero_ = _dropin._no_grad_zero_


def __getattr__(name: str) -> Any:
    if name == "probe":  # imported lazily: the probe pulls in more of torch
        return import_module("paraminit.torch._probe").probe
    raise AttributeError(f"module 'paraminit.torch' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (not the module's own imports such as ``Any``)."""
    return sorted({*__all__, "PRESETS", "ROLES"})
