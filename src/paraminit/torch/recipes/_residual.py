"""Recipes for residual networks without normalisation: Fixup, SkipInit/ReZero and ZerO.

Each recipe finds the residual branches in the parameter descriptions (the describer's
``layer``: the blocks of a stack of two or more same-type children of an ``nn.ModuleList``
or ``nn.Sequential``) and returns the rules; every parameter it does not concern gets the
``he`` preset's rules (He normal weights, zero biases, norms 1/0, embeddings N(0, 1)).

* :func:`fixup`: Zhang, Dauphin & Ma 2019, "Fixup Initialization: Residual Learning Without
  Normalization", ICLR, §3 ("Fixup" box).
* :func:`skipinit`, :func:`rezero` and the wrapper :class:`ResidualScale`: De & Smith 2020,
  "Batch Normalization Biases Residual Blocks Towards the Identity Function in Deep
  Networks", NeurIPS, §4; Bachlechner, Majumder, Mao, Cottrell & McAuley 2020, "ReZero is
  All You Need: Fast Convergence at Large Depth", §3.
* :func:`zer_o`: Zhao, Schäfer & Anandkumar 2022, "ZerO Initialization: Initializing Neural
  Networks with only Zeros and Ones", TMLR, Algorithm 1 (scheme ``identity_hadamard``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from ..._errors import InitError
from ...core import validate
from ...plan import Kind, ParamInfo, Rule
from ...plan.recipes import weight_recipe
from .._describe import register_describer

__all__ = ["Branch", "Fixup", "RESIDUAL_SCALE_LABEL", "ResidualGate", "ResidualScale",
           "SCALAR_NAMES", "ZerO", "find_branches", "fixup", "rezero", "skipinit", "zer_o"]

# The layers whose weights are a branch's weight layers (a Bilinear's 3-D weight is none).
_WEIGHT_KINDS = (Kind.LINEAR, Kind.CONV, Kind.CONV_TRANSPOSE)
# Modules of a residual block that are its shortcut, not its branch (torchvision's ResNet
# blocks and the usual CIFAR ResNets name their projection so).
_SHORTCUT_WORDS = ("downsample", "shortcut")
# The label the describer of ResidualScale puts on its alpha.
RESIDUAL_SCALE_LABEL = "residual_scale"
# Names of the residual scalar in common code: SkipInit's alpha (De & Smith 2020's code),
# ReZero's resweight (the authors' ReZero-examples), timm/others' skipinit_gain.
SCALAR_NAMES: tuple[str, ...] = ("*.alpha", "*.resweight", "*.skipinit_gain", "alpha",
                                 "resweight", "skipinit_gain")
_HE = weight_recipe("he_normal")


class ResidualScale(nn.Module):
    """``x + alpha * branch(x)`` with one learnable scalar ``alpha``, initialised to 0.

    SkipInit (De & Smith 2020, §4) multiplies the branch's output by alpha, ReZero
    (Bachlechner et al. 2020, §3, Eq. 3: x_{i+1} = x_i + alpha_i F(x_i)) multiplies the
    branch; without a normalisation layer after the scalar these are the same function, so
    this one module is both. At alpha = 0 the block is the identity. Its describer labels
    alpha ``"residual_scale"`` (``residual="scale"``): :func:`skipinit` and :func:`rezero`
    set it to 0, :func:`fixup` and :func:`zer_o` to 1 (their branch's last layer is the 0).

    Example:
        >>> block = ResidualScale(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8)))
        >>> float(block.alpha)
        0.0
    """

    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        if not isinstance(branch, nn.Module):
            raise InitError(f"ResidualScale wraps a torch.nn.Module (the residual branch); "
                            f"received {validate.show(branch)}")
        self.branch = branch
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.alpha * self.branch(x)


def _describe_scale(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    if local != "alpha":
        return None
    return {"residual": "scale", "labels": frozenset({RESIDUAL_SCALE_LABEL})}


register_describer(ResidualScale, _describe_scale)


@dataclass(frozen=True)
class Branch:
    """One residual branch: its block's module name and its weight layers in module order;
    ``weights[-1]`` closes the branch (its output layer)."""

    block: str
    weights: tuple[ParamInfo, ...]

    @property
    def depth(self) -> int:
        """m, the number of weight layers in the branch."""
        return len(self.weights)


def _block_of(info: ParamInfo) -> str:
    """The module name of the stacked block ``info`` sits in (``"blocks.3"``)."""
    parts = info.module.split(".")
    if info.layer is not None and str(info.layer) in parts:
        return ".".join(parts[:parts.index(str(info.layer)) + 1])
    return info.module.rpartition(".")[0]


def _is_shortcut(info: ParamInfo) -> bool:
    return any(word in part for part in info.module.split(".") for word in _SHORTCUT_WORDS)


def _selector_rule(select: Any, where: str) -> Rule:
    """A selector validated as a Rule's ``select`` (globs, names, types, roles, kinds)."""
    try:
        return Rule(select, "zeros")
    except InitError as error:
        raise InitError(f"{where}: {error}") from None


def _modules(params: Sequence[ParamInfo]) -> str:
    names = list(dict.fromkeys(info.module or "<root>" for info in params
                               if info.role == "weight"))
    shown = ", ".join(map(repr, names[:6])) + (", ..." if len(names) > 6 else "")
    return shown or "none"


def find_branches(params: Sequence[ParamInfo], *, branches: Any = None, last: Any = None,
                  recipe: str = "recipe") -> list[Branch]:
    """The residual branches of a model, in module order.

    By default a branch is a stacked block (``ParamInfo.layer`` set by the describer) and
    its weight layers are the Linear/Conv weights in it, except a shortcut projection (a
    module named ``downsample`` or ``shortcut``). ``branches`` (a selector: glob, name,
    type, or a tuple of them) names the branch weights instead; they are grouped by block.
    The last weight of a branch closes it: the one the describer marked
    ``residual="out"``, else the last in module order, or the one ``last`` selects.

    Raises:
        InitError: no branch found, a selector that takes nothing or takes a parameter that
            is not a Linear/Conv weight, or a branch without exactly one ``last`` weight.
    """
    if branches is None:
        chosen = [p for p in params if p.role == "weight" and p.kind in _WEIGHT_KINDS
                  and p.layer is not None and not _is_shortcut(p)]
        if not chosen:
            raise InitError(
                f"{recipe}: the model has no residual branches: no Linear/Conv weight sits in "
                "a stack of two or more same-type blocks (an nn.ModuleList or nn.Sequential "
                f"of blocks); its weights are in {_modules(params)}. Build the blocks as "
                "nn.ModuleList([Block() for _ in range(L)]), or pass branches= a glob of the "
                "branch weights (e.g. branches='blocks.*.weight')")
    else:
        rule = _selector_rule(branches, f"{recipe}(branches={branches!r})")
        chosen = [p for p in params if rule.matches(p)]
        if not chosen:
            raise InitError(f"{recipe}: branches={branches!r} selects no parameter; the "
                            f"model's weights are in {_modules(params)}")
        wrong = [p for p in chosen if p.role != "weight" or p.kind not in _WEIGHT_KINDS]
        if wrong:
            raise InitError(f"{recipe}: branches={branches!r} selects {wrong[0].name!r} "
                            f"(kind {wrong[0].kind.value}), not a Linear/Conv weight; narrow "
                            "it to the branch weights (e.g. 'blocks.*.weight')")
    grouped: dict[str, list[ParamInfo]] = {}
    for info in chosen:
        grouped.setdefault(_block_of(info), []).append(info)
    closing = _selector_rule(last, f"{recipe}(last={last!r})") if last is not None else None
    found = []
    for block, weights in grouped.items():
        if closing is not None:
            marked = [p for p in weights if closing.matches(p)]
        else:
            marked = [p for p in weights if p.residual == "out"] or [weights[-1]]
        if len(marked) != 1:
            raise InitError(
                f"{recipe}: the branch {block!r} must have exactly one last layer; "
                f"last={last!r} selects {len(marked)} of its weights "
                f"({', '.join(p.name for p in weights)})")
        found.append(Branch(block, (*[p for p in weights if p is not marked[0]], marked[0])))
    return found


def _names(infos: Sequence[ParamInfo]) -> tuple[str, ...]:
    return tuple(f"name:{info.name}" for info in infos)


def _scalars_in(params: Sequence[ParamInfo], found: Sequence[Branch]) -> list[ParamInfo]:
    """Parameters no describer knows, of one element, inside a branch's block."""
    blocks = {branch.block for branch in found}
    return [p for p in params if p.role == "other" and _numel(p) == 1
            and any(p.module == b or p.module.startswith(b + ".") for b in blocks)]


def _numel(info: ParamInfo) -> int:
    count = 1
    for size in info.shape:
        count *= size
    return count


@dataclass(frozen=True)
class Fixup:
    """The Fixup recipe (see :func:`fixup`); ``branches_of(params)`` shows what it found."""

    branches: Any = None
    last: Any = None
    classifier: Any = None

    @property
    def name(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in (("branches", self.branches),
                                                      ("last", self.last),
                                                      ("classifier", self.classifier))
                          if v is not None)
        return f"fixup({given})" if given else "fixup"

    def branches_of(self, params: Sequence[ParamInfo]) -> list[Branch]:
        return find_branches(params, branches=self.branches, last=self.last, recipe="fixup")

    def _classifier(self, params: Sequence[ParamInfo], taken: set[str]) -> list[ParamInfo]:
        if self.classifier is False:
            return []
        if self.classifier is None:
            heads = [p for p in params if p.kind == Kind.LINEAR and p.role == "weight"
                     and p.name not in taken]
            if not heads:
                raise InitError(
                    "fixup: the model has no classification layer (a Linear outside the "
                    f"residual branches); its weights are in {_modules(params)}. Pass "
                    "classifier= its weight's name (e.g. 'head.weight'), or classifier=False")
            weight = heads[-1]
        else:
            rule = _selector_rule(self.classifier, f"fixup(classifier={self.classifier!r})")
            matched = [p for p in params if rule.matches(p) and p.role == "weight"]
            if len(matched) != 1:
                raise InitError(
                    f"fixup: classifier={self.classifier!r} must select exactly one weight; "
                    f"it selects {len(matched)} "
                    f"({', '.join(p.name for p in matched) or 'none'}). Pass the name of the "
                    "classification layer's weight, e.g. 'head.weight'")
            weight = matched[0]
        return [weight, *(p for p in params if p.module == weight.module and p.role == "bias")]

    def __call__(self, params: Sequence[ParamInfo]) -> list[Rule]:
        found = self.branches_of(params)
        total = len(found)  # L
        rules = [Rule(_names([b.weights[-1] for b in found]), "zeros")]
        by_depth: dict[int, list[ParamInfo]] = {}
        for branch in found:
            by_depth.setdefault(branch.depth, []).extend(branch.weights[:-1])
        for m, weights in sorted(by_depth.items()):
            if m == 1:  # the branch's one layer is its last: 0, nothing to scale
                continue
            # Fixup §3: scale the branch's He-initialised layers by L^(-1/(2m-2)).
            scale = total ** (-1.0 / (2 * m - 2))
            rules.append(Rule(_names(weights), "he_normal", std_scale=scale,
                              reason=f"Fixup L^(-1/(2m-2)), L = {total}, m = {m}"))
        taken = {p.name for b in found for p in b.weights}
        head = self._classifier(params, taken)
        if head:
            rules.append(Rule(_names(head), "zeros"))
        scalars = _scalars_in(params, found)
        # Fixup's scalar multiplier per branch starts at 1, its scalar biases at 0.
        ones = [p for p in scalars if RESIDUAL_SCALE_LABEL in p.labels
                or "scale" in p.name.rpartition(".")[2]]
        zeros = [p for p in scalars if "bias" in p.name.rpartition(".")[2] and p not in ones]
        if ones:
            rules.append(Rule(_names(ones), "ones"))
        if zeros:
            rules.append(Rule(_names(zeros), "zeros"))
        return [*rules, *_HE(params)]


def fixup(*, branches: Any = None, last: Any = None, classifier: Any = None) -> Fixup:
    """Fixup (Zhang, Dauphin & Ma 2019, ICLR, §3): train a deep residual net without
    normalisation.

    With L residual branches of m weight layers each:

    1. the classification layer (its weight and bias) and the last layer of every branch
       start at 0;
    2. every other layer is He-initialised (He et al. 2015, Var = 2/fan_in) and the weight
       layers inside the branches are scaled by L^(-1/(2m-2)): std = sqrt(2/fan_in) ·
       L^(-1/(2m-2)) (L = 64, m = 2: x 64^(-1/2) = 0.125);
    3. scalar biases (0) and a scalar multiplier per branch (1), where the model has them:
       one-element parameters in a branch's block whose name contains ``bias`` (0) or
       ``scale``, or a :class:`ResidualScale`'s alpha (1).

    For m = 1 the exponent -1/(2m-2) divides by 0; but then the branch's one layer is its
    last, which step 1 sets to 0, so there is no layer to scale and none is (the paper's
    rule only scales the layers *before* the branch output).

    Branches are found by :func:`find_branches` (``branches=`` and ``last=`` override);
    ``classifier=`` selects the classification layer's weight (default: the last Linear
    weight outside the branches in module order; False: none). Every other parameter gets
    the ``he`` preset's rules.

    Example:
        >>> import paraminit.torch as pit
        >>> plan = pit.init(model, fixup())                      # doctest: +SKIP
        >>> plan["blocks.0.branch.0.weight"].std_scale           # doctest: +SKIP
        0.125
    """
    for key, value in (("branches", branches), ("last", last)):
        if value is not None:
            _selector_rule(value, f"fixup({key}={value!r})")
    if classifier is not None and classifier is not False:
        _selector_rule(classifier, f"fixup(classifier={classifier!r})")
    return Fixup(branches, last, classifier)


@dataclass(frozen=True)
class ResidualGate:
    """The SkipInit/ReZero recipe (see :func:`skipinit`): the residual scalars at 0."""

    label: str
    select: Any = None

    @property
    def name(self) -> str:
        return self.label if self.select is None else f"{self.label}(select={self.select!r})"

    def scalars_of(self, params: Sequence[ParamInfo]) -> list[ParamInfo]:
        """The residual scalars this recipe sets to 0."""
        if self.select is None:
            rule = Rule((*SCALAR_NAMES, f"label:{RESIDUAL_SCALE_LABEL}"), "zeros")
        else:
            rule = _selector_rule(self.select, f"{self.label}(select={self.select!r})")
        found = [p for p in params if rule.matches(p)]
        if not found:
            scalars = [p.name for p in params if _numel(p) == 1]
            seen = (f"its one-element parameters are {', '.join(map(repr, scalars[:6]))}"
                    if scalars else "it has no one-element parameter")
            raise InitError(
                f"{self.label}: the model has no residual scalar: no parameter named "
                f"{', '.join(SCALAR_NAMES[:3])} or labelled {RESIDUAL_SCALE_LABEL!r}"
                + (f" matches select={self.select!r}" if self.select is not None else "")
                + f" ({seen}). Wrap each residual branch in "
                "paraminit.torch.recipes.ResidualScale(branch), or pass select= the "
                "scalars' glob (e.g. select='blocks.*.gain')")
        wide = [p for p in found if _numel(p) != 1]
        if wide:
            raise InitError(
                f"{self.label}: {wide[0].name!r} has shape {wide[0].shape}; the residual "
                "scalar alpha is one number per branch (shape () or (1,)). Narrow select= "
                "to the scalars")
        return found

    def __call__(self, params: Sequence[ParamInfo]) -> list[Rule]:
        return [Rule(_names(self.scalars_of(params)), "zeros"), *_HE(params)]


def skipinit(*, select: Any = None) -> ResidualGate:
    """SkipInit (De & Smith 2020, NeurIPS, §4): a scalar alpha after each residual branch,
    initialised to 0, so every block starts as the identity and the net as its shortcut
    path; no normalisation needed.

    The scalars are the parameters named ``*.alpha``, ``*.resweight`` or
    ``*.skipinit_gain``, or a :class:`ResidualScale`'s alpha; ``select=`` (a glob, name or
    label selector) names them instead. Each must have one element. The branch weights
    keep a standard init (the ``he`` preset's rules, as for every other parameter): a
    branch whose alpha and last layer were both 0 would never learn (each one's gradient
    is proportional to the other).

    Raises:
        InitError: a model without such a scalar (wrap the branches in ResidualScale), a
            ``select`` that takes nothing or takes a parameter of more than one element.
    """
    return _gate("skipinit", select)


def rezero(*, select: Any = None) -> ResidualGate:
    """ReZero (Bachlechner et al. 2020, §3, Eq. 3): x_{i+1} = x_i + alpha_i F(x_i), alpha_i
    a learnable scalar initialised to 0. In a network without normalisation this is
    SkipInit's parametrisation (see :func:`skipinit`, which takes the same arguments); the
    recipe differs only in its name in the plan."""
    return _gate("rezero", select)


def _gate(label: str, select: Any) -> ResidualGate:
    if select is not None:
        _selector_rule(select, f"{label}(select={select!r})")
    return ResidualGate(label, select)


@dataclass(frozen=True)
class ZerO:
    """The ZerO recipe (see :func:`zer_o`)."""

    branches: Any = None
    last: Any = None

    @property
    def name(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in (("branches", self.branches),
                                                      ("last", self.last)) if v is not None)
        return f"zer_o({given})" if given else "zer_o"

    def branches_of(self, params: Sequence[ParamInfo]) -> list[Branch]:
        """The residual branches, or [] for a plain network when none were asked for."""
        try:
            return find_branches(params, branches=self.branches, last=self.last,
                                 recipe="zer_o")
        except InitError:
            if self.branches is not None or not _plain(params):
                raise
            return []

    def __call__(self, params: Sequence[ParamInfo]) -> list[Rule]:
        found = self.branches_of(params)
        rules = [Rule(_names([b.weights[-1] for b in found]), "zeros")] if found else []
        gates = [p for p in params if RESIDUAL_SCALE_LABEL in p.labels]
        if gates:  # a gate at 0 with a zero last layer would keep the branch dead
            rules.append(Rule(_names(gates), "ones"))
        rules.append(Rule(tuple(f"kind:{k.value}" for k in _WEIGHT_KINDS), "identity_hadamard"))
        return [*rules, *_HE(params)]


def _plain(params: Sequence[ParamInfo]) -> bool:
    """No parameter sits in a stack of blocks: a plain (non-residual) network."""
    return all(p.layer is None for p in params)


def zer_o(*, branches: Any = None, last: Any = None) -> ZerO:
    """ZerO (Zhao, Schäfer & Anandkumar 2022, TMLR, Algorithm 1): only zeros and ones.

    Every Linear/Conv weight gets the deterministic ``identity_hadamard`` matrix: the
    (partial) identity where the layer keeps or narrows its width, c · I* H_p I* (a
    Hadamard transform, c = 1/sqrt(p), p = 2^ceil(log2 out)) where it widens; a conv gets
    it at its centre tap. The last layer of every residual branch is 0 (found as by
    :func:`fixup`; ``branches=``/``last=`` override), a :class:`ResidualScale`'s alpha 1,
    biases 0. A network with no stack of blocks is a plain one: Algorithm 1 applies to
    every layer and nothing is zeroed. The values do not depend on the seed.
    """
    for key, value in (("branches", branches), ("last", last)):
        if value is not None:
            _selector_rule(value, f"zer_o({key}={value!r})")
    return ZerO(branches, last)
