"""Inits that let deep transformers train without warm-up: T-Fixup and DeepNorm.

Both scale, inside every block of a transformer stack, the attention's value and output
projections and the MLP's weights by a constant of the depth, and leave q and k alone:

* **T-Fixup** (Huang, Perez, Ba & Volkovs 2020, "Improving Transformer Optimization Through
  Better Initialization", ICML, §3.3, Algorithm 1; reference code
  github.com/layer6ai-labs/T-Fixup, ``fairseq/modules/transformer_layer.py``
  ``fixup_initialization`` and ``fairseq/models/transformer.py``) for transformers *without*
  layer norm: Xavier for every weight, embeddings N(0, d^(-1/2)) (std d^(-1/2)), then
  encoder v, out and MLP weights x 0.67·N^(-1/4), decoder ones x (9M)^(-1/4), embeddings
  x (9M)^(-1/4).
* **DeepNorm** (Wang, Ma, Dong, Huang, Zhang & Wei 2022, "DeepNet: Scaling Transformers to
  1,000 Layers", §2.3, Fig. 2 and Table 1; constants from microsoft/torchscale,
  ``torchscale/architecture/encoder.py`` and ``decoder.py``) for post-LN transformers whose
  residual is x_{l+1} = LN(α·x_l + G(x_l)): Xavier normal with gain β for the MLP, v and
  out weights, gain 1 for q and k. α is part of the forward pass
  (:class:`DeepNormResidual`, :func:`deepnorm_constants`); the init alone is not DeepNorm.

What they read of the model: :mod:`paraminit.torch` marks every parameter inside a stack of
blocks (two or more same-type children of an ``nn.ModuleList``/``nn.Sequential``, such as
``nn.TransformerEncoder.layers``) with its block index and the stack's length. A block with
one ``nn.MultiheadAttention`` is an encoder block (or a decoder-only block: two sublayers),
one with two (self- and cross-attention) a decoder block. In a block, the attention's
``in_proj_weight`` is split into q, k, v (``q/k/v_proj_weight`` when separate), its
``out_proj.weight`` is the output projection, and every other Linear weight of the block is
the MLP's (torch's ``linear1``/``linear2``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn as nn

from ..._errors import InitError
from ...core import validate
from ...plan import Kind, ParamInfo, Rule

__all__ = ["DeepNormResidual", "DeepNormScale", "deepnorm", "deepnorm_constants", "t_fixup"]

_ATTENTION = (Kind.ATTENTION_IN, Kind.ATTENTION_SEPARATE)
_NORMS = (Kind.NORM_SCALE, Kind.NORM_SHIFT)
# fairseq's MultiheadAttention.reset_parameters: xavier_uniform_(q/k/v_proj, gain=1/sqrt(2))
# (q, k, v stacked have fan_in + fan_out = 4d as one matrix; each alone 2d: 1/sqrt(2) keeps
# the stacked matrix's std). T-Fixup's code multiplies v by sqrt(2)·scale, so v ends at gain
# 1·scale while q and k keep 1/sqrt(2).
_FAIRSEQ_QK_GAIN = 1.0 / math.sqrt(2.0)


class DeepNormScale(NamedTuple):
    """DeepNorm's constants for one stack: the residual's α and the init's gain β."""

    alpha: float
    beta: float


def deepnorm_constants(layers: int, decoder_layers: int | None = None, *,
                       source: Literal["torchscale", "paper"] = "torchscale"
                       ) -> dict[str, DeepNormScale]:
    """DeepNorm's α and β (Wang et al. 2022, Table 1; torchscale's code).

    One stack of N blocks (encoder-only, or decoder-only with N = M):
    α = (2N)^(1/4), β = (8N)^(-1/4). An encoder of N and a decoder of M blocks:
    encoder α = 0.81·(N⁴M)^(1/16), β = 1.15·(N⁴M)^(-1/16); decoder α = (3M)^(1/4),
    β = (12M)^(-1/4).

    Note:
        The encoder's β of an encoder-decoder differs between the paper and its code. Table 1
        and Fig. 2 give β = 0.87·(N⁴M)^(-1/16); torchscale divides the weights by
        ``init_scale = (N⁴M)^(1/16) / 1.15``, i.e. multiplies them by 1.15·(N⁴M)^(-1/16)
        (0.87 ≈ 1/1.15: the code inverts the factor). ``source="torchscale"`` (default)
        follows the code, ``source="paper"`` the table. Every other constant agrees.

    Returns:
        ``{"encoder": DeepNormScale, "decoder": DeepNormScale}`` for an encoder-decoder,
        ``{"stack": DeepNormScale}`` for one stack.

    Example:
        >>> deepnorm_constants(6)["stack"]
        DeepNormScale(alpha=1.8612097182041991, beta=0.3799178428257963)
    """
    n = validate.integer("layers", layers, minimum=1)
    validate.choice("source", source, ("torchscale", "paper"))
    if decoder_layers is None:
        return {"stack": DeepNormScale((2.0 * n) ** 0.25, (8.0 * n) ** -0.25)}
    m = validate.integer("decoder_layers", decoder_layers, minimum=1)
    depth = (n ** 4 * m) ** 0.0625  # (N^4 M)^(1/16)
    encoder_beta = 1.15 / depth if source == "torchscale" else 0.87 / depth
    return {"encoder": DeepNormScale(0.81 * depth, encoder_beta),
            "decoder": DeepNormScale((3.0 * m) ** 0.25, (12.0 * m) ** -0.25)}


class DeepNormResidual(nn.Module):
    """DeepNorm's post-LN residual: ``LN(alpha * x + branch)`` (Wang et al. 2022, §2.3).

    Use one per sublayer, in place of ``norm(x + branch)``:
    ``x = self.res1(x, self.attn(x, x, x)[0])``; ``alpha`` from :func:`deepnorm_constants`.
    """

    def __init__(self, d_model: int, alpha: float, *, eps: float = 1e-5) -> None:
        super().__init__()
        self.alpha = validate.real("alpha", alpha, positive=True)
        self.norm = nn.LayerNorm(validate.integer("d_model", d_model, minimum=1), eps=eps)

    def forward(self, x: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
        return self.norm(self.alpha * x + branch)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:.6g}"


@dataclass(frozen=True)
class _Block:
    """One block of a stack: its parameters and its attention modules."""

    params: list[ParamInfo]
    attention: list[str]


@dataclass(frozen=True)
class _Stack:
    name: str
    depth: int
    blocks: dict[int, _Block]

    @property
    def decoder(self) -> bool:
        """Blocks with self- and cross-attention (three sublayers)."""
        return max(len(b.attention) for b in self.blocks.values()) >= 2


def _stack_of(info: ParamInfo) -> str | None:
    """The qualified name of the outermost stack ``info`` is in (``"encoder.layers"``)."""
    if info.layer is None:
        return None
    parts = info.module.split(".") if info.module else []
    index = str(info.layer)
    for i, part in enumerate(parts):
        if part == index:
            return ".".join(parts[:i])
    return None


def _stacks(params: Sequence[ParamInfo], recipe: str) -> list[_Stack]:
    """The transformer stacks of the model: stacks of blocks holding attention."""
    found: dict[str, tuple[int, dict[int, list[ParamInfo]]]] = {}
    for info in params:
        stack = _stack_of(info)
        if stack is not None and info.depth is not None and info.layer is not None:
            found.setdefault(stack, (info.depth, {}))[1].setdefault(info.layer, []).append(info)
    stacks, plain = [], []
    for name, (depth, blocks) in found.items():
        built = {layer: _Block(members, sorted({i.module for i in members
                                                if i.kind in _ATTENTION}))
                 for layer, members in blocks.items()}
        if all(b.attention for b in built.values()):
            stacks.append(_Stack(name, depth, built))
        else:
            plain.append(name or "<model>")
    if not stacks:
        seen = (f"the stack(s) {', '.join(map(repr, plain))} hold blocks without an "
                "nn.MultiheadAttention" if plain else "it has no stack of blocks (two or more "
                "same-type children of an nn.ModuleList or nn.Sequential)")
        raise InitError(
            f"{recipe} initialises the blocks of a transformer stack, but {seen} "
            f"({len(params)} parameters, e.g. {params[0].name if params else 'none'!r}). "
            "Fix: build the model's layers as an nn.ModuleList of blocks that each hold an "
            "nn.MultiheadAttention (nn.TransformerEncoder/Decoder do), or use a preset")
    encoders = [s for s in stacks if not s.decoder]
    decoders = [s for s in stacks if s.decoder]
    if len(encoders) > 1 or len(decoders) > 1:
        names = ", ".join(repr(s.name) for s in stacks)
        raise InitError(
            f"{recipe} knows one stack, or one encoder and one decoder stack; this model has "
            f"{len(encoders)} encoder and {len(decoders)} decoder stacks ({names}). Fix: "
            "initialise each part with its own init(part, recipe, prefix='part.'), or pass "
            "rules for the others")
    return [*encoders, *decoders]


def _layers(stacks: list[_Stack], layers: int | None,
            decoder_layers: int | None) -> dict[str, int]:
    """Each stack's block count: the stack's length unless ``layers=`` gives it."""
    if decoder_layers is not None and len(stacks) == 1:
        raise InitError(f"decoder_layers={decoder_layers} is for an encoder-decoder; this model "
                        f"has one stack ({stacks[0].name!r}): pass layers= instead")
    counts = {}
    for stack in stacks:
        given = decoder_layers if stack.decoder and len(stacks) == 2 else layers
        counts[stack.name] = given if given is not None else stack.depth
    return counts


def _roles(block: _Block) -> dict[str, list[tuple[ParamInfo, str]]]:
    """The block's weights by their part: ``qkv`` (stacked), ``q``/``k``/``v`` (separate),
    ``out`` (attention output) and ``mlp`` (every other Linear weight)."""
    outs = {f"{a}.out_proj" for a in block.attention}
    roles: dict[str, list[tuple[ParamInfo, str]]] = {}
    for info in block.params:
        local = info.name.rpartition(".")[2]
        if info.kind == Kind.ATTENTION_IN:
            part = "qkv"
        elif info.kind == Kind.ATTENTION_SEPARATE:
            part = local[0]  # q_proj_weight, k_proj_weight, v_proj_weight
        elif info.kind == Kind.LINEAR and info.module in outs:
            part = "out"
        elif info.kind == Kind.LINEAR:
            part = "mlp"
        else:
            continue
        roles.setdefault(part, []).append((info, local))
    return roles


def _names(infos: Sequence[ParamInfo]) -> tuple[str, ...]:
    return tuple(f"name:{info.name}" for info in infos)


def _block_rules(stack: _Stack, scheme: str, qk: float, scale: float, why: str,
                 qk_why: str) -> list[Rule]:
    """Rules for every block of ``stack``: q and k x ``qk``; v, out and MLP x ``scale``."""
    by_part: dict[str, list[ParamInfo]] = {}
    for block in stack.blocks.values():
        for part, members in _roles(block).items():
            by_part.setdefault(part, []).extend(info for info, _ in members)
    rules = []
    if by_part.get("qkv"):
        rules.append(Rule(_names(by_part["qkv"]), scheme,
                          std_scale={"q": qk, "k": qk, "v": scale},
                          reason=f"q, k: {qk_why}; v: {why}"))
    for part in ("q", "k"):
        if by_part.get(part):
            rules.append(Rule(_names(by_part[part]), scheme, std_scale=qk, reason=qk_why))
    scaled = [*by_part.get("v", ()), *by_part.get("out", ()), *by_part.get("mlp", ())]
    if scaled:
        rules.append(Rule(_names(scaled), scheme, std_scale=scale, reason=why))
    return rules


def _embedding_rules(params: Sequence[ParamInfo], scale: float, why: str) -> list[Rule]:
    """Embeddings N(0, d^(-1/2)) (fairseq's ``Embedding``: std = embedding_dim^(-1/2)),
    times ``scale``, one rule per embedding width."""
    by_width: dict[int, list[ParamInfo]] = {}
    for info in params:
        if info.kind == Kind.EMBEDDING:
            by_width.setdefault(info.shape[-1], []).append(info)
    return [Rule(_names(infos), "normal", std=d ** -0.5, std_scale=scale, reason=why)
            for d, infos in by_width.items()]


def _closing(scheme: str) -> list[Rule]:
    return [Rule("role:bias", "zeros"), Rule(f"kind:{Kind.NORM_SCALE.value}", "ones"),
            Rule(f"kind:{Kind.NORM_SHIFT.value}", "zeros"),
            Rule(("role:weight", "role:recurrent"), scheme)]


def _check_layers(layers: int | None, decoder_layers: int | None) -> None:
    if layers is not None:
        validate.integer("layers", layers, minimum=1)
    if decoder_layers is not None:
        validate.integer("decoder_layers", decoder_layers, minimum=1)


def _label(name: str, layers: int | None, decoder_layers: int | None) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in (("layers", layers),
                                               ("decoder_layers", decoder_layers))
                      if v is not None)
    return f"{name}({shown})"


@dataclass(frozen=True)
class TFixup:
    """The T-Fixup recipe (see :func:`t_fixup`)."""

    name: str
    layers: int | None = None
    decoder_layers: int | None = None
    allow_norms: bool = False

    def __call__(self, params: Sequence[ParamInfo]) -> list[Rule]:
        norms = [info for info in params if info.kind in _NORMS]
        if norms and not self.allow_norms:
            raise InitError(
                f"t_fixup is an init for transformers without layer norm (Huang et al. 2020, "
                f"§3.3), but {norms[0].module!r} ({norms[0].module_type}) is a norm layer "
                f"({len(norms)} norm parameters in all). Fix: build the blocks without norms "
                "(for torch's layers: layer.norm1 = layer.norm2 = nn.Identity(), and norm=None "
                "on the stack), or pass allow_norms=True to keep them at 1 and 0 (then the "
                "model is not T-Fixup's)")
        stacks = _stacks(params, "t_fixup")
        counts = _layers(stacks, self.layers, self.decoder_layers)
        rules = []
        qk_why = "fairseq MultiheadAttention q/k gain 1/sqrt(2), not scaled by T-Fixup"
        for stack in stacks:
            n = counts[stack.name]
            if stack.decoder:
                scale, why = (9.0 * n) ** -0.25, f"T-Fixup decoder (9*{n})^(-1/4)"
            else:
                scale, why = 0.67 * n ** -0.25, f"T-Fixup encoder 0.67*{n}^(-1/4)"
            rules += _block_rules(stack, "xavier_uniform", _FAIRSEQ_QK_GAIN, scale, why, qk_why)
        # Algorithm 1 step 2: input embeddings x (9M)^(-1/4), M the decoder's blocks (the
        # one stack's when there is no decoder).
        m = counts[stacks[-1].name]
        rules += _embedding_rules(params, (9.0 * m) ** -0.25,
                                  f"T-Fixup embedding d^(-1/2) x (9*{m})^(-1/4)")
        return [*rules, *_closing("xavier_uniform")]


@dataclass(frozen=True)
class DeepNorm:
    """The DeepNorm init recipe (see :func:`deepnorm`)."""

    name: str
    layers: int | None = None
    decoder_layers: int | None = None
    source: str = "torchscale"

    def constants(self, params: Sequence[ParamInfo]) -> dict[str, DeepNormScale]:
        """α and β of each transformer stack of the model, by the stack's name."""
        stacks = _stacks(params, "deepnorm")
        counts = _layers(stacks, self.layers, self.decoder_layers)
        if len(stacks) == 1:
            return {stacks[0].name: deepnorm_constants(counts[stacks[0].name])["stack"]}
        encoder, decoder = stacks
        both = deepnorm_constants(counts[encoder.name], counts[decoder.name],
                                  source=self.source)  # type: ignore[arg-type]
        return {encoder.name: both["encoder"], decoder.name: both["decoder"]}

    def __call__(self, params: Sequence[ParamInfo]) -> list[Rule]:
        stacks = _stacks(params, "deepnorm")
        counts = _layers(stacks, self.layers, self.decoder_layers)
        constants = self.constants(params)
        rules = []
        for stack in stacks:
            n, beta = counts[stack.name], constants[stack.name].beta
            if len(stacks) == 1:
                why = f"DeepNorm beta = (8*{n})^(-1/4)"
            elif stack.decoder:
                why = f"DeepNorm decoder beta = (12*{n})^(-1/4)"
            else:
                m = counts[stacks[1].name]
                factor = "1.15" if self.source == "torchscale" else "0.87"
                why = f"DeepNorm encoder beta = {factor}*({n}^4*{m})^(-1/16)"
            rules += _block_rules(stack, "xavier_normal", 1.0, beta, why,
                                  "DeepNorm q/k gain 1")
        rules += _embedding_rules(params, 1.0, "embedding N(0, d^(-1/2)) as fairseq/torchscale")
        return [*rules, *_closing("xavier_normal")]


def t_fixup(*, layers: int | None = None, decoder_layers: int | None = None,
            allow_norms: bool = False) -> TFixup:
    """T-Fixup (Huang et al. 2020, ICML, §3.3 and Algorithm 1; the authors' fairseq code).

    ========================================  ==============================================
    parameters                                law (xavier_uniform on each q/k/v block's fans)
    ========================================  ==============================================
    attention q, k (every block)              xavier_uniform, gain 1/√2 (fairseq's)
    encoder v, out_proj, MLP weights          xavier_uniform x 0.67·N^(-1/4)
    decoder v, out_proj (self and cross),     xavier_uniform x (9M)^(-1/4)
    MLP weights
    embeddings                                N(0, std d^(-1/2)) x (9M)^(-1/4)
    other weights / biases                    xavier_uniform / 0
    ========================================  ==============================================

    N is the encoder's block count, M the decoder's (the one stack's N when there is no
    decoder). The paper's Algorithm 1 says "Xavier" for all weights; its code keeps fairseq's
    ``MultiheadAttention`` init, gain 1/√2 on q, k, v, and multiplies v by √2 (the issue's
    "v_proj x √2 with fairseq's gain"), so v is at gain 1 x scale and q, k at 1/√2. This
    recipe follows the code. The code scales each side's embedding by its own stack's
    (9·layers)^(-1/4); Algorithm 1 scales both by (9M)^(-1/4): the same when N = M.

    Args:
        layers: N (the encoder's, or the one stack's, blocks); default: the stack's length.
        decoder_layers: M for an encoder-decoder; default: the decoder stack's length.
        allow_norms: T-Fixup removes layer norm; a model with norm layers is an InitError
            unless this is True (norms then stay 1 and 0, and the model is not T-Fixup's).
    """
    _check_layers(layers, decoder_layers)
    validate.boolean("allow_norms", allow_norms)
    return TFixup(_label("t_fixup", layers, decoder_layers), layers, decoder_layers,
                  allow_norms)


def deepnorm(*, layers: int | None = None, decoder_layers: int | None = None,
             source: Literal["torchscale", "paper"] = "torchscale") -> DeepNorm:
    """DeepNorm's init (Wang et al. 2022, §2.3, Fig. 2; torchscale's code).

    Xavier normal with gain β on the MLP weights and the attention's v and out_proj (self-
    and cross-attention), gain 1 on q and k and on every other weight; biases 0, norms 1 and
    0, embeddings N(0, std d^(-1/2)) (fairseq's ``Embedding``). β from
    :func:`deepnorm_constants`; ``recipe.constants(params)`` gives each stack's α and β.

    This is only half of DeepNorm: the model must also compute x_{l+1} = LN(α·x + G(x)) in
    every post-LN sublayer (:class:`DeepNormResidual`); the init does not change the forward
    pass, and torch's ``nn.TransformerEncoderLayer`` has α = 1.

    Args:
        layers: N (the encoder's, or the one stack's, blocks); default: the stack's length.
        decoder_layers: M for an encoder-decoder; default: the decoder stack's length.
        source: ``"torchscale"`` (default) or ``"paper"``: they differ only in an
            encoder-decoder's encoder β (see :func:`deepnorm_constants`).
    """
    _check_layers(layers, decoder_layers)
    validate.choice("source", source, ("torchscale", "paper"))
    return DeepNorm(_label("deepnorm", layers, decoder_layers), layers, decoder_layers, source)
