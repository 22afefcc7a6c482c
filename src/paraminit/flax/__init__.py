"""Flax adapter: model-level initialisation of NNX modules and Linen params trees.

``init(model, rules, seed=...)`` resolves a plan with the framework-neutral planner
(:mod:`paraminit.plan`, the one ``paraminit.torch.init`` uses) from the fans each Flax layer
type implies, samples every value with paraminit's engine and writes it: into an NNX
module's ``nnx.Param``s in place, or into a new Linen params tree. A parameter's values
depend only on (seed, its torch-style stream name, element index), so a Flax model and the
same model in PyTorch can start from the same weights (``docs/same_weights.md``).

Example:
    >>> from flax import nnx
    >>> import paraminit.flax as pif
    >>> net = nnx.Sequential(nnx.Linear(64, 32, rngs=nnx.Rngs(0)), nnx.relu,
    ...                      nnx.Linear(32, 10, rngs=nnx.Rngs(0)))
    >>> plan = pif.init(net, [pif.Rule("layers.2.kernel", "xavier_uniform")], seed=0)
    >>> plan["layers.2.kernel"].scheme
    'xavier_uniform'
"""

from __future__ import annotations

from ..plan import InitWarning, Kind, ParamInfo, Plan, PlanRow, Rule
from ..plan._audit import Audit, AuditRecord
from ._describe import stream_name
from ._model import audit, init

__all__ = ["Audit", "AuditRecord", "InitWarning", "Kind", "ParamInfo", "Plan", "PlanRow",
           "Rule", "audit", "init", "stream_name"]
