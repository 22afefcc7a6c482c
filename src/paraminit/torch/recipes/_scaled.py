"""Depth-scaled normal inits of transformer language models: GPT-2 and Megatron-LM.

Both draw every weight and embedding from one small normal and shrink the projections that
close a residual branch by the depth, so that the residual stream's variance does not grow
with the number of blocks:

* GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", §2.3:
  "we scale the weights of residual layers at initialization by a factor of 1/√N where N
  is the number of residual layers"); the code of transformers' ``GPT2PreTrainedModel.
  _init_weights`` and nanoGPT: N(0, 0.02²) for Linear/Conv1D weights and embeddings
  (token and position), ``c_proj`` weights N(0, (0.02/√(2·n_layer))²) (two residual layers
  per block), biases 0, LayerNorm 1 and 0.
* Megatron-LM (Shoeybi et al. 2019, "Megatron-LM", and its code: ``init_method_normal(σ)``
  for every weight, ``scaled_init_method_normal(σ, num_layers)`` = N(0, (σ/√(2·num_layers))²)
  for the attention output and MLP down projections), used by Llama-style and OLMo-style
  trainers with σ = 0.02; ``per_layer=True`` gives torchtitan's ``depth_init``
  σ/√(2·(layer + 1)) instead, and ``truncate=t`` the truncated normal those trainers draw
  (torch's ``trunc_normal_(std=σ, a=-tσ, b=tσ)``: σ is the parent std).

The projections to scale are those :mod:`paraminit.torch` marks ``residual="out"`` (GPT-2's
``c_proj``, Llama's ``o_proj`` and ``down_proj``, ...) or those ``residual=`` globs select.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ..._errors import InitError
from ...core import validate
from ...core.spec import truncated_std_factor
from ...plan import Kind, ParamInfo, Rule
from ...plan.recipes import tied_outputs

__all__ = ["gpt2", "megatron"]

_NORMAL_KINDS = (Kind.EMBEDDING, Kind.LEARNED_INPUT)


@dataclass(frozen=True)
class DepthScaledNormal:
    """A recipe: weights and embeddings N(0, σ²) (or truncated), residual output projections
    σ/√(2·layers) (or σ/√(2·(layer + 1)) with ``per_layer``), biases 0, norms 1 and 0."""

    name: str
    source: str
    std: float
    layers: int | None = None
    truncate: float | None = None
    per_layer: bool = False
    residual: tuple[str, ...] = ()

    def law(self) -> tuple[str, dict[str, Any]]:
        """The scheme and options of N(0, σ²), or of torch's ``trunc_normal_`` at ±tσ."""
        if self.truncate is None:
            return "normal", {"std": self.std}
        t = self.truncate
        return "truncated_normal", {"std": self.std * truncated_std_factor(-t, t),
                                    "truncate": t}

    def _residual(self, params: Sequence[ParamInfo]) -> list[ParamInfo]:
        if self.residual:
            return [info for info in params if info.role == "weight"
                    and any(fnmatchcase(name, pattern) for pattern in self.residual
                            for name in info.names)]
        return [info for info in params if info.residual == "out"]

    def __call__(self, params: Sequence[ParamInfo]) -> list[Rule]:
        residual = self._residual(params)
        if not residual:
            where = (f"no weight matches residual={list(self.residual)}" if self.residual else
                     "no layer is marked as the last projection of a residual branch")
            raise InitError(
                f"{self.name} scales the projections that close each residual branch, but "
                f"{where} in this model ({len(params)} parameters, e.g. "
                f"{params[0].name if params else 'none'!r}). Fix: pass residual=['*.c_proj."
                "weight'] (globs of those weights), or use a preset for a model without "
                "residual blocks")
        scheme, options = self.law()
        rules = []
        for info in residual:
            scale, why = self._scale(info)
            rules.append(Rule(f"name:{info.name}", scheme, **options, std_scale=scale,
                              reason=why))
        return [*rules, *tied_outputs(params, scheme, **options),
                Rule("role:bias", "zeros"), Rule(f"kind:{Kind.NORM_SCALE.value}", "ones"),
                Rule(f"kind:{Kind.NORM_SHIFT.value}", "zeros"),
                Rule(tuple(f"kind:{k.value}" for k in _NORMAL_KINDS), scheme, **options),
                Rule(("role:weight", "role:recurrent"), scheme, **options)]

    def _scale(self, info: ParamInfo) -> tuple[float, str]:
        if self.per_layer:
            if info.layer is None:
                raise InitError(f"{self.name} with per_layer=True needs each residual "
                                f"projection's block index; {info.name!r} is in no stack of "
                                "blocks. Fix: per_layer=False with layers=N")
            return (1.0 / math.sqrt(2.0 * (info.layer + 1)),
                    f"1/sqrt(2*(layer+1)), layer {info.layer}: {self.source}")
        layers = self.layers if self.layers is not None else info.depth
        if layers is None:
            raise InitError(f"{self.name} needs the number of blocks to scale {info.name!r} by "
                            "1/sqrt(2*layers), and the model's blocks are not a stack of "
                            "same-type modules. Fix: pass layers=N")
        return 1.0 / math.sqrt(2.0 * layers), f"1/sqrt(2*{layers}): {self.source}"


def _arguments(std: Any, layers: Any, residual: Any) -> tuple[float, int | None, tuple[str, ...]]:
    std = validate.real("std", std, positive=True)
    if std > 1.0:
        raise InitError(f"std must be at most 1 (0.02 for GPT-2 and Megatron; 1/sqrt(d) for "
                        f"some trainers); received {std!r}")
    if layers is not None:
        layers = validate.integer("layers", layers, minimum=1)
    if residual is None:
        patterns: tuple[str, ...] = ()
    elif isinstance(residual, str):
        patterns = (validate.text("residual", residual),)
    elif isinstance(residual, Sequence) and residual and all(isinstance(p, str)
                                                             for p in residual):
        patterns = tuple(validate.text("residual", p) for p in residual)
    else:
        raise InitError(f"residual must be None, a glob or a list of globs of the residual "
                        f"output weights (e.g. '*.c_proj.weight'); received "
                        f"{validate.show(residual)}")
    return std, layers, patterns


def _label(name: str, **values: Any) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in values.items() if v is not None)
    return f"{name}({shown})"


def gpt2(std: float = 0.02, *, layers: int | None = None,
         residual: str | Sequence[str] | None = None) -> DepthScaledNormal:
    """GPT-2's init (Radford et al. 2019, §2.3; transformers' ``GPT2PreTrainedModel``,
    nanoGPT): weights and embeddings N(0, std²), residual output projections
    std/√(2·layers), biases 0, norms 1 and 0; a tied ``lm_head`` shares the embedding's
    N(0, std²).

    Args:
        std: the normal's std (GPT-2's ``initializer_range``, 0.02).
        layers: the number of blocks (``n_layer``); default: the stack of blocks' length.
        residual: globs of the residual output weights; default: those marked
            ``residual="out"`` (``c_proj`` in GPT-2's attention and MLP).

    Example:
        >>> import paraminit.torch as pit
        >>> from paraminit.torch.recipes import gpt2
        >>> plan = pit.init(model, gpt2(), seed=0)  # doctest: +SKIP
    """
    std, layers, patterns = _arguments(std, layers, residual)
    return DepthScaledNormal(_label("gpt2", std=std, layers=layers), "GPT-2 residual projection",
                             std, layers, residual=patterns)


def megatron(std: float = 0.02, *, layers: int | None = None, truncate: float | None = None,
             per_layer: bool = False,
             residual: str | Sequence[str] | None = None) -> DepthScaledNormal:
    """Megatron-LM's init (Shoeybi et al. 2019; ``init_method_normal`` and
    ``scaled_init_method_normal``), as Llama/OLMo-style trainers use it: weights and
    embeddings N(0, std²), attention output and MLP down projections std/√(2·layers).

    Args:
        std: σ (0.02; some trainers use 1/√d).
        layers: the number of blocks; default: the stack of blocks' length.
        truncate: cut at ±truncate·σ with σ the *parent* std, as torch's
            ``trunc_normal_(std=σ, a=-tσ, b=tσ)`` (OLMo and torchtitan use 3); None: a plain
            normal (Megatron).
        per_layer: scale block l's projections by 1/√(2·(l + 1)) (torchtitan's
            ``depth_init``) instead of 1/√(2·layers).
        residual: globs of the residual output weights; default: those marked
            ``residual="out"`` (``o_proj``, ``down_proj``, ``dense_4h_to_h``, ...).
    """
    std, layers, patterns = _arguments(std, layers, residual)
    if truncate is not None:
        truncate = validate.real("truncate", truncate, positive=True)
    per_layer = validate.boolean("per_layer", per_layer)
    if per_layer and layers is not None:
        raise InitError("per_layer=True scales each block by its own index; drop layers= "
                        f"(received layers={layers})")
    return DepthScaledNormal(
        _label("megatron", std=std, layers=layers, truncate=truncate,
               per_layer=per_layer or None),
        "Megatron scaled_init_method_normal" if not per_layer else "torchtitan depth_init",
        std, layers, truncate, per_layer, patterns)
