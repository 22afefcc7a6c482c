"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas 2016).

Mishkin & Matas 2016, "All you need is a good init", ICLR, §2 and Algorithm 1: pre-initialise
every layer with an orthonormal matrix (Saxe et al. 2014), then, from the first layer to
the last, divide the layer's weight by the std of its output on a mini-batch until that
std is 1 within a tolerance or an iteration budget runs out.

The paper treats fully connected and convolution layers. Here a *unit* is what gets its own
output std: a layer's weight, or one block of a stacked weight (a gate of an RNN/LSTM/GRU
weight, the q, k or v rows of an attention ``in_proj_weight``), the blocks the planner gives
their own fans (docs/structured.md).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from .._errors import InitError
from ..core import validate
from ..core.stream import _check_seed
from ._generic import init_
from ._sharded import is_dtensor

__all__ = ["LSUVRecord", "check_lsuv_options", "lsuv"]

Status = Literal["converged", "not_converged", "skipped"]


@dataclass(frozen=True)
class LSUVRecord:
    """What LSUV did to one unit: a layer's weight, or one block of a stacked weight.

    ``name`` is the layer's module name for a whole weight (``"0"``, ``"attn.out_proj"``),
    or ``"<parameter>[<block>]"`` for a block (``"lstm.weight_hh_l0[f]"``,
    ``"attn.in_proj_weight[q]"``); ``parameter`` is the qualified parameter name.
    ``iterations`` counts weight rescalings (forward passes = iterations + 1);
    ``initial_std`` is the output std after the orthonormal pre-init, ``final_std`` the
    one measured after the last rescaling; ``scale`` is the product of the factors the
    weight was multiplied by.

    ``status`` is ``"converged"`` (|final_std - target_std| < tol, and centred if asked),
    ``"not_converged"`` (rescaled, but ``max_iter`` ran out) or ``"skipped"`` (not
    rescaled); ``reason`` says why in words for the last two. A unit whose module the
    forward pass never reached has ``reached`` False and NaN stds.
    """

    name: str
    iterations: int
    initial_std: float
    final_std: float
    converged: bool
    scale: float
    reached: bool = True
    status: Status = "converged"
    reason: str = ""
    parameter: str = ""


class _Captured(Exception):
    """Raised from a forward hook to stop the forward pass once a module's call is seen."""


class _Unmeasurable(Exception):
    """A unit's output cannot be measured from its module's call; the message says why."""


@dataclass
class _Call:
    """One call of a module: its arguments by name and its output; ``cache`` holds what
    several units of the module compute from the same call (an RNN's per-layer trace)."""

    arguments: Mapping[str, Any]
    output: Any
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Unit:
    name: str
    parameter: str
    owner: nn.Module
    weight: torch.Tensor  # the rows rescaled: the parameter or a view of its block
    bias: torch.Tensor | None  # the matching bias rows (centred with center=True)
    measure: Callable[[_Call], torch.Tensor]
    group: str  # units of one group are fitted together
    channel_last: bool = True  # the bias is added along the output's last dim
    stream: str = ""  # the orthonormal pre-init's stream name


_GATES = {"LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n")}
_QKV = ("q", "k", "v")
_RNN_WEIGHT = re.compile(r"weight_(ih|hh|hr)_l(\d+)(_reverse)?")
_ATTENTION_BIASES = ("bias_k", "bias_v")  # (1, 1, E) biases, not weights


def _qualified(module_name: str, local: str) -> str:
    return f"{module_name}.{local}" if module_name else local


def _rows(tensor: torch.Tensor | None, index: int, count: int) -> torch.Tensor | None:
    if tensor is None:
        return None
    size = tensor.shape[0] // count
    return tensor.narrow(0, index * size, size)


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


def _module_output(call: _Call) -> torch.Tensor:
    tensor = _first_tensor(call.output)
    if tensor is None:
        raise _Unmeasurable(f"the module returned {type(call.output).__name__}, not a tensor; "
                            "LSUV needs a tensor output to measure")
    return tensor


def _argument(call: _Call, name: str, module: nn.Module) -> Any:
    if name not in call.arguments:
        raise _Unmeasurable(f"its {type(module).__name__} was called without an argument named "
                            f"{name!r} (a forward with another signature); LSUV recomputes the "
                            "unit's output from that argument")
    return call.arguments[name]


def _linear_of(module: nn.Module, argument: str, weight: torch.Tensor,
               bias: torch.Tensor | None) -> Callable[[_Call], torch.Tensor]:
    """The unit's output recomputed from the call: ``arguments[argument] @ weight.T + bias``."""
    def measure(call: _Call) -> torch.Tensor:
        return F.linear(_argument(call, argument, module), weight, bias)
    return measure


def _attention_units(name: str, module: nn.MultiheadAttention) -> dict[str, list[_Unit]]:
    """in_proj_weight per q/k/v block (or q/k/v_proj_weight), measured as the projection of
    the call's query/key/value; out_proj measured as the module's output, which is
    out_proj's output (MultiheadAttention passes out_proj.weight to
    F.multi_head_attention_forward rather than calling out_proj, so no hook on it fires)."""
    units: dict[str, list[_Unit]] = {}
    bias = module.in_proj_bias
    for index, (block, argument) in enumerate(zip(_QKV, ("query", "key", "value"),
                                                  strict=True)):
        if module._qkv_same_embed_dim:
            local, weight = "in_proj_weight", _rows(module.in_proj_weight, index, 3)
            unit_name = f"{_qualified(name, local)}[{block}]"
        else:
            local = f"{block}_proj_weight"
            weight = getattr(module, local)
            unit_name = _qualified(name, local)
        assert weight is not None
        rows = _rows(bias, index, 3)
        units.setdefault(_qualified(name, local), []).append(_Unit(
            unit_name, _qualified(name, local), module, weight, rows,
            _linear_of(module, argument, weight, rows), group=unit_name, stream=unit_name))
    out = module.out_proj
    out_name = _qualified(name, "out_proj")
    units[f"{out_name}.weight"] = [_Unit(
        out_name, f"{out_name}.weight", module, out.weight, out.bias,
        lambda call: _module_output(call), group=out_name, stream=f"{out_name}.weight")]
    return units


def _rnn_template(module: nn.RNNBase, layer: int) -> nn.RNNBase:
    """A one-layer, one-direction RNN of ``module``'s type for ``layer``, made on the meta
    device (no draw from torch's global generator); its weights are then set to the
    layer's own Parameters."""
    hidden = module.proj_size or module.hidden_size
    size = module.input_size if layer == 0 else hidden * (2 if module.bidirectional else 1)
    options: dict[str, Any] = dict(num_layers=1, bias=module.bias, device="meta",
                                   dtype=module.weight_ih_l0.dtype)
    if module.mode == "LSTM":
        return nn.LSTM(size, module.hidden_size, proj_size=module.proj_size, **options)
    if module.mode == "GRU":
        return nn.GRU(size, module.hidden_size, **options)
    nonlinearity = "relu" if module.mode == "RNN_RELU" else "tanh"
    return nn.RNN(size, module.hidden_size, nonlinearity=nonlinearity, **options)


def _rnn_trace(module: nn.RNNBase, call: _Call) -> dict[str, tuple[torch.Tensor, ...]]:
    """Per layer and direction (``"l0"``, ``"l0_reverse"``, ...): the layer's input sequence,
    its previous hidden states h_{t-1} and its outputs h_t, time first, in the direction's
    own time order. Each layer runs as a one-layer RNN sharing ``module``'s weights, the
    next layer's input being the outputs of both directions (torch's stacking; eval mode,
    so no inter-layer dropout)."""
    if "trace" in call.cache:
        return call.cache["trace"]
    x, hx = _argument(call, "input", module), call.arguments.get("hx")
    if isinstance(x, PackedSequence):
        raise _Unmeasurable("the RNN ran on a PackedSequence; LSUV measures gate outputs on "
                            "padded tensor input only, so pass a padded batch")
    batched = x.dim() == 3
    x = (x.transpose(0, 1) if module.batch_first else x) if batched else x.unsqueeze(1)
    h0, c0 = (hx if isinstance(hx, tuple) else (hx, None)) if hx is not None else (None, None)
    if h0 is not None and not batched:
        h0, c0 = h0.unsqueeze(1), (c0.unsqueeze(1) if c0 is not None else None)
    directions = ("", "_reverse") if module.bidirectional else ("",)
    hidden = module.proj_size or module.hidden_size
    trace: dict[str, tuple[torch.Tensor, ...]] = {}
    for layer in range(module.num_layers):
        outputs = []
        for d, suffix in enumerate(directions):
            template = _rnn_template(module, layer)
            for local in template._flat_weights_names:
                setattr(template, local,
                        getattr(module, local.replace("_l0", f"_l{layer}{suffix}")))
            index = layer * len(directions) + d
            sequence = x if d == 0 else x.flip(0)
            start = (h0[index:index + 1] if h0 is not None
                     else x.new_zeros(1, x.shape[1], hidden))
            state = start if c0 is None else (start, c0[index:index + 1])
            out, _ = template(sequence, state if h0 is not None else None)
            previous = torch.cat([start, out[:-1]])
            trace[f"l{layer}{suffix}"] = (sequence, previous, out)
            outputs.append(out if d == 0 else out.flip(0))
        x = torch.cat(outputs, dim=-1)
    call.cache["trace"] = trace
    return trace


def _rnn_units(name: str, module: nn.RNNBase, local: str) -> list[_Unit]:
    """One unit per gate block of ``weight_ih_l{k}`` / ``weight_hh_l{k}`` (LSTM i, f, g, o;
    GRU r, z, n; a plain RNN one), its output the block's pre-activation recomputed from
    the traced inputs: x_t @ W_block^T + b_ih_block, or h_{t-1} @ W_block^T + b_hh_block;
    ``weight_hr_l{k}`` (LSTM proj_size) one unit, its output h_t. A layer direction's
    recurrent and projection units form one group: each changes the h_{t-1} all of them
    read."""
    match = _RNN_WEIGHT.fullmatch(local)
    assert match is not None
    kind, layer, suffix = match.group(1), match.group(2), match.group(3) or ""
    key, parameter = f"l{layer}{suffix}", _qualified(name, local)
    weight = getattr(module, local)
    group = f"{_qualified(name, key)}.recurrent"
    if kind == "hr":
        return [_Unit(parameter, parameter, module, weight, None,
                      lambda call: _rnn_trace(module, call)[key][2], group, stream=parameter)]
    bias = getattr(module, f"bias_{kind}_l{layer}{suffix}", None) if module.bias else None
    source = 0 if kind == "ih" else 1  # the traced input sequence or h_{t-1}
    gates = _GATES.get(module.mode, ("",))
    units = []
    for index, gate in enumerate(gates):
        rows, bias_rows = _rows(weight, index, len(gates)), _rows(bias, index, len(gates))
        unit_name = f"{parameter}[{gate}]" if gate else parameter

        def measure(call: _Call, rows: torch.Tensor = rows,
                    bias_rows: torch.Tensor | None = bias_rows) -> torch.Tensor:
            return F.linear(_rnn_trace(module, call)[key][source], rows, bias_rows)

        units.append(_Unit(unit_name, parameter, module, rows, bias_rows, measure,
                           group if kind == "hh" else unit_name, stream=unit_name))
    return units


@dataclass
class _Survey:
    """What LSUV covers in a model: units by parameter, and records for what it leaves out."""

    units: dict[str, list[_Unit]] = field(default_factory=dict)
    unknown: list[LSUVRecord] = field(default_factory=list)


def _survey(model: nn.Module) -> _Survey:
    survey = _Survey()
    seen: set[int] = set()
    for name, module in model.named_modules():
        if isinstance(module, nn.MultiheadAttention):
            survey.units.update(_attention_units(name, module))
            seen.update(id(p) for p in (module.in_proj_weight, module.q_proj_weight,
                                        module.k_proj_weight, module.v_proj_weight,
                                        module.out_proj.weight) if p is not None)
        for local, param in module._parameters.items():
            if param is None or id(param) in seen:
                continue
            seen.add(id(param))
            parameter = _qualified(name, local)
            if isinstance(module, nn.RNNBase) and _RNN_WEIGHT.fullmatch(local):
                survey.units[parameter] = _rnn_units(name, module, local)
            elif local == "weight" and param.dim() >= 2:
                survey.units[parameter] = [_Unit(
                    name, parameter, module, param, module._parameters.get("bias"),
                    _module_output, group=name, channel_last=False, stream=parameter)]
            elif isinstance(module, nn.RNNCellBase) and param.dim() >= 2:
                survey.unknown.append(_skipped(
                    parameter, parameter, reached=True,
                    reason=f"a weight of {type(module).__name__}: a cell runs once per time "
                           "step and LSUV measures a module's first call only, so it is left "
                           "as it is; use the sequence module (nn.LSTM, nn.GRU, nn.RNN)"))
            elif param.dim() >= 2 and not (isinstance(module, nn.MultiheadAttention)
                                           and local in _ATTENTION_BIASES):
                survey.unknown.append(_skipped(
                    parameter, parameter, reached=True,
                    reason=f"a {param.dim()}-D parameter of {type(module).__name__} that is "
                           "not a layer's 'weight', an RNN/LSTM/GRU gate weight or an "
                           "attention projection; LSUV does not know which output it "
                           "produces, so it is left as it is"))
    return survey


def _skipped(name: str, parameter: str, *, reached: bool, reason: str,
             std: float = math.nan) -> LSUVRecord:
    return LSUVRecord(name, 0, std, std, False, 1.0, reached=reached, status="skipped",
                      reason=reason, parameter=parameter)


def _call(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, Sequence) and not isinstance(inputs, str):
        return model(*inputs)
    raise InitError(
        f"lsuv: inputs must be a tensor, a tuple/list of positional inputs or a dict of "
        f"keyword inputs; received {type(inputs).__name__}"
    )


@contextmanager
def _hooks(modules: Sequence[nn.Module], hook: Callable[..., Any]) -> Iterator[None]:
    handles = [module.register_forward_hook(hook, with_kwargs=True) for module in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _no_fast_path() -> Iterator[None]:
    """TransformerEncoderLayer and MultiheadAttention have fused eval-mode kernels that
    skip their submodules' calls (and hooks); LSUV's passes take the module path."""
    backend = getattr(torch.backends, "mha", None)
    if backend is None or not hasattr(backend, "set_fastpath_enabled"):
        yield
        return
    enabled = backend.get_fastpath_enabled()
    backend.set_fastpath_enabled(False)
    try:
        yield
    finally:
        backend.set_fastpath_enabled(enabled)


def _arguments(module: nn.Module, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Mapping[str, Any]:
    try:
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {}
    bound.apply_defaults()
    return bound.arguments


def _forward_order(model: nn.Module, inputs: Any, owners: Sequence[nn.Module]) -> list[int]:
    """``id`` of each owner module in the order its first call finishes in one pass."""
    order: list[int] = []

    def record(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        if id(module) not in order:
            order.append(id(module))

    with _hooks(owners, record):
        try:
            _call(model, inputs)
        except InitError:
            raise
        except Exception as error:
            raise InitError(
                f"lsuv: the forward pass failed on the given inputs ({type(error).__name__}: "
                f"{error}); pass inputs the model accepts, e.g. a batch from its data"
            ) from error
    return order


def _capture(model: nn.Module, inputs: Any, unit: _Unit) -> _Call:
    """The first call of the unit's module on ``inputs``; the pass stops right after it."""
    captured: list[_Call] = []

    def capture(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        captured.append(_Call(_arguments(module, args, kwargs), output))
        raise _Captured

    with _hooks([unit.owner], capture), suppress(_Captured):
        _call(model, inputs)
    if not captured:
        raise InitError(
            f"lsuv: layer {unit.name!r} ran in the first forward pass but not in a later one "
            "on the same inputs; LSUV needs a forward pass that calls the same layers each time"
        )
    return captured[0]


def _channel_dim(unit: _Unit, output: torch.Tensor) -> int | None:
    """The output dim the bias is added along: last for Linear-like and block units, 1 for
    conv-like layers."""
    if unit.bias is None:
        return None
    size = unit.bias.numel()
    if (unit.channel_last or isinstance(unit.owner, (nn.Linear, nn.Bilinear))) \
            and output.shape[-1] == size:
        return output.dim() - 1
    if output.dim() >= 2 and output.shape[1] == size:
        return 1
    if output.shape[-1] == size:
        return output.dim() - 1
    return None


def _stats(output: torch.Tensor, channel: int | None) -> tuple[float, torch.Tensor | None]:
    values = output.double()
    std = float(values.std(correction=0))
    if channel is None:
        return std, None
    dims = [d for d in range(values.dim()) if d != channel]
    return std, values.mean(dim=dims)


def check_lsuv_options(*, target_std: Any = 1.0, tol: Any = 0.1, max_iter: Any = 10,
                       center: Any = False, seed: Any = 0) -> None:
    """Check :func:`lsuv`'s options without a model or data: what ``lsuv`` checks first.

    For callers that take the options long before the model and the batch exist, such as
    ``paraminit compare``, which checks ``--methods lsuv:tol=0.05`` before any run.

    Raises:
        InitError: ``target_std`` or ``tol`` not a finite number > 0, ``max_iter`` not an
            int >= 0, ``center`` not a bool, or a bad ``seed``; the message starts with
            ``"lsuv: "`` and names the option.

    Example:
        >>> check_lsuv_options(tol=0.05, center=True)  # fine: returns None
    """
    for argument, value in (("target_std", target_std), ("tol", tol)):
        try:
            validate.real(argument, value, positive=True)
        except InitError:
            raise InitError(f"lsuv: {argument} must be a finite number > 0; received "
                            f"{validate.show(value)}") from None
    try:
        validate.integer("max_iter", max_iter, minimum=0, hint=" (rescalings per layer)")
        validate.boolean("center", center)
    except InitError as error:
        raise InitError(f"lsuv: {error}") from None
    _check_seed(seed)


def lsuv(
    model: nn.Module,
    inputs: Any,
    *,
    target_std: float = 1.0,
    tol: float = 0.1,
    max_iter: int = 10,
    center: bool = False,
    seed: int = 0,
) -> list[LSUVRecord]:
    """Layer-sequential unit-variance init, in place (Mishkin & Matas 2016, §2, Algorithm 1).

    The units LSUV rescales, each to ``target_std`` (the paper's unit variance, for every
    unit alike):

    * a module's ``weight`` of >= 2 dims (Linear, Conv*, Embedding, Bilinear, a user layer
      with such a weight, ...): its output is the module's output (its first tensor);
    * RNN/LSTM/GRU ``weight_ih_l{k}[_reverse]`` and ``weight_hh_l{k}[_reverse]``, one unit
      per gate block (LSTM i, f, g, o; GRU r, z, n; a plain RNN one): its output is the
      block's pre-activation, x_t @ W_block^T + b_ih_block or h_{t-1} @ W_block^T +
      b_hh_block, recomputed over the batch and all time steps from the layer's input and
      hidden sequences (traced layer by layer with torch's own RNN kernels on the module's
      weights); ``weight_hr_l{k}`` (LSTM ``proj_size``) one unit, its output h_t;
    * MultiheadAttention ``in_proj_weight`` per q/k/v block (or ``q/k/v_proj_weight`` when
      kdim/vdim differ): its output is query/key/value @ W^T + b from the call's inputs;
      ``out_proj``: its output is the attention module's output (out_proj's own hook never
      fires: the module hands ``out_proj.weight`` to ``F.multi_head_attention_forward``).

    1. Every unit's rows get an orthonormal init, ``init_(w, "orthogonal", seed=seed,
       name=...)`` (Saxe et al. 2014) on the streams :func:`paraminit.torch.init` uses: the
       parameter's name, ``"<parameter>[<block>]"`` for a block.
    2. In forward order (found by forward hooks on one pass over ``inputs``; a module's
       units in its own order: per layer and direction, input gates, then recurrent), each
       unit's output std s is measured on ``inputs`` and, while ``|s - target_std| >= tol``
       and fewer than ``max_iter`` rescalings were made, its rows are multiplied by
       ``target_std / s``. Biases are left as they are, so a unit with a non-zero bias can
       need more than one step. The recurrent blocks (and projection) of one RNN layer
       direction are fitted together, since each changes the h_{t-1} they all read: at
       each step the first of them not within ``tol`` is rescaled and all are measured
       again, until every one is within ``tol`` or out of rescalings.

    ``center=True`` also sets each bias so that the unit's output has zero mean per
    output channel (bias -= channel mean, at every step); such a unit converges only
    once every channel mean is within ``tol`` of 0 as well. Units without a bias are
    only rescaled.

    Args:
        model: the network; modified in place.
        inputs: a mini-batch: a tensor (``model(inputs)``), a tuple/list
            (``model(*inputs)``) or a dict (``model(**inputs)``).
        target_std: the std each unit's output is brought to (the paper: 1).
        tol: convergence tolerance on the std, absolute (the paper's Tol_var = 0.1 is
            on the variance).
        max_iter: rescalings allowed per unit (the paper's T_max).
        center: also zero the per-channel output mean through the bias.
        seed: keys the orthonormal pre-init's streams (with each weight's name).

    Returns:
        One :class:`LSUVRecord` per unit, in forward order, then the units whose module the
        forward pass never reached (``status="skipped"``; they keep the orthonormal
        pre-init), then parameters of >= 2 dims LSUV does not know (``"skipped"``, left as
        they are; biases and norm scales are not weights and get no record). A unit whose
        output std is 0 or not finite, or that cannot be measured (an RNN fed a
        PackedSequence, a module returning no tensor), is ``"skipped"`` with the reason.
        Nothing is printed.

    Raises:
        InitError: the model has no weight LSUV can rescale, the forward pass fails on
            ``inputs``, or an option is out of range. The model is then as it was: the
            weights (and, with ``center``, biases) LSUV writes are copied first and put back.

    Note:
        The passes run in eval mode (dropout off, BatchNorm normalising with its running
        statistics, which are not updated), without autograd and without the fused
        attention fast path (``torch.backends.mha``); every module's own train/eval flag
        and the fast-path switch are restored afterwards, and hooks are always removed.

    Example:
        >>> net = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 10))
        >>> records = lsuv(net, torch.randn(128, 32))
        >>> all(r.status == "converged" for r in records)
        True
    """
    check_lsuv_options(target_std=target_std, tol=tol, max_iter=max_iter, center=center,
                       seed=seed)
    if not isinstance(model, nn.Module):
        raise InitError(f"lsuv: model must be a torch.nn.Module; received {type(model).__name__}")
    sharded = next((name for name, p in model.named_parameters() if is_dtensor(p)), None)
    if sharded is not None:
        raise InitError(
            f"lsuv: parameter {sharded!r} is a DTensor. LSUV rescales each layer by the std "
            "of its whole output, which per-rank shards do not see; run lsuv on the unsharded "
            "model (one process), then shard it, or initialise the sharded model with "
            "paraminit.torch.init")
    survey = _survey(model)
    units = [unit for found in survey.units.values() for unit in found]
    if not units:
        unknown = ", ".join(repr(r.parameter) for r in survey.unknown)
        raise InitError(
            f"lsuv: {type(model).__name__} has no layer with a weight of >= 2 dims LSUV can "
            "rescale (Linear, Conv*, Embedding, RNN/LSTM/GRU, MultiheadAttention, ...); there "
            "is nothing to initialise" + (f" (parameters it does not know: {unknown})"
                                          if unknown else ""))
    modes = {module: module.training for module in model.modules()}
    saved = [(t, t.detach().clone()) for unit in units
             for t in (unit.weight, unit.bias if center else None) if t is not None]
    order: dict[int, int] = {}
    try:
        model.eval()
        with torch.no_grad(), _no_fast_path():
            for unit in units:
                init_(unit.weight, "orthogonal", seed=seed, name=unit.stream)
            owners = list({id(unit.owner): unit.owner for unit in units}.values())
            order = {key: rank for rank, key in enumerate(_forward_order(model, inputs, owners))}
            reached = sorted((u for u in units if id(u.owner) in order),
                             key=lambda u: order[id(u.owner)])
            records: list[LSUVRecord] = []
            for group in _groups(reached):
                records += _fit(model, inputs, group, target_std=target_std, tol=tol,
                                max_iter=max_iter, center=center)
    except BaseException:
        with torch.no_grad():
            for tensor, copy in reversed(saved):
                tensor.copy_(copy)
        raise
    finally:
        for module, training in modes.items():
            module.training = training
    unreached = [_skipped(u.name, u.parameter, reached=False,
                          reason=f"its module ({type(u.owner).__name__}) did not run in the "
                                 "forward pass on the given inputs; it keeps the orthonormal "
                                 "pre-init") for u in units if id(u.owner) not in order]
    return records + unreached + survey.unknown


def _groups(units: Sequence[_Unit]) -> Iterator[list[_Unit]]:
    """Runs of consecutive units with the same ``group``."""
    run: list[_Unit] = []
    for unit in units:
        if run and unit.group != run[0].group:
            yield run
            run = []
        run.append(unit)
    if run:
        yield run


@dataclass
class _Progress:
    unit: _Unit
    std: float = math.nan
    means: torch.Tensor | None = None
    initial: float = math.nan
    scale: float = 1.0
    iterations: int = 0
    unmeasurable: str = ""

    def converged(self, target_std: float, tol: float) -> bool:
        centred = self.means is None or float(self.means.abs().max()) < tol
        return abs(self.std - target_std) < tol and centred

    def rescalable(self) -> bool:
        return not self.unmeasurable and math.isfinite(self.std) and self.std > 0


def _measure(model: nn.Module, inputs: Any, progress: Sequence[_Progress], center: bool) -> None:
    call = _capture(model, inputs, progress[0].unit)
    for item in progress:
        try:
            output = item.unit.measure(call)
        except _Unmeasurable as why:
            item.unmeasurable, item.std, item.means = str(why), math.nan, None
            continue
        item.std, item.means = _stats(output, _channel_dim(item.unit, output) if center else None)


def _fit(model: nn.Module, inputs: Any, units: Sequence[_Unit], *, target_std: float,
         tol: float, max_iter: int, center: bool) -> list[LSUVRecord]:
    """Algorithm 1's inner loop for one unit, or for a group of units fitted together:
    one rescaling at a time (the first unit due), then every unit measured again; rescaling
    all due units at once overshoots when they feed each other (an LSTM's recurrent and
    projection weights)."""
    progress = [_Progress(unit) for unit in units]
    _measure(model, inputs, progress, center)
    for item in progress:
        item.initial = item.std
    while True:
        due = [item for item in progress if item.rescalable() and item.iterations < max_iter
               and not item.converged(target_std, tol)]
        if not due:
            break
        for item in due[:1]:  # one at a time: see the docstring
            if item.means is not None and item.unit.bias is not None:
                bias = item.unit.bias
                bias.sub_(item.means.to(bias.dtype).reshape(bias.shape))
            factor = target_std / item.std
            item.unit.weight.mul_(factor)
            item.scale *= factor
            item.iterations += 1
        _measure(model, inputs, progress, center)
    return [_record(item, target_std, tol, max_iter) for item in progress]


def _record(item: _Progress, target_std: float, tol: float, max_iter: int) -> LSUVRecord:
    unit = item.unit
    if item.unmeasurable:
        return _skipped(unit.name, unit.parameter, reached=True, reason=item.unmeasurable)
    if item.iterations == 0 and not item.rescalable():
        return _skipped(unit.name, unit.parameter, reached=True, std=item.std,
                        reason=f"its output std on the batch is {item.std}, so no rescaling "
                               f"can bring it to {target_std}; it keeps the orthonormal "
                               "pre-init")
    converged = item.converged(target_std, tol)
    if converged:
        status, reason = "converged", ""
    elif not item.rescalable():
        status = "not_converged"
        reason = f"its output std became {item.std} after {item.iterations} rescalings"
    elif abs(item.std - target_std) >= tol:
        status = "not_converged"
        reason = (f"output std {item.std:.4g} is not within tol={tol} of {target_std} "
                  f"after max_iter={max_iter} rescalings")
    else:
        status = "not_converged"
        reason = (f"a channel mean is not within tol={tol} of 0 after max_iter={max_iter} "
                  "rescalings")
    return LSUVRecord(unit.name, item.iterations, item.initial, item.std, converged,
                      item.scale, reached=True, status=status, reason=reason,
                      parameter=unit.parameter)
