"""LSUV (Mishkin & Matas 2016): convergence, side effects, records and errors."""

from __future__ import annotations

import dataclasses
import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from paraminit import InitError  # noqa: E402
from paraminit.torch._generic import init_  # noqa: E402
from paraminit.torch._lsuv import LSUVRecord, lsuv  # noqa: E402


def _forward_with(model: nn.Module, x: torch.Tensor, handles: list) -> None:
    """One eval forward pass of ``model`` on ``x``; the hooks ``handles`` removed after it."""
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for handle in handles:
            handle.remove()


def _mlp(activation: type[nn.Module], depth: int = 10, width: int = 64) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(16, width), activation()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), activation()]
    layers.append(nn.Linear(width, 4))
    return nn.Sequential(*layers)


def _cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(),
        nn.Linear(16 * 7 * 7, 10),
    )


def _inputs(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def _measured_stds(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[float, torch.Tensor]]:
    """An independent measurement: each weighted layer's output std and channel means."""
    found: dict[str, tuple[float, torch.Tensor]] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(getattr(module, "weight", None), nn.Parameter):
            def hook(module, args, output, name=name):
                dims = [d for d in range(output.dim()) if d != 1]  # channels: dim 1
                found[name] = (float(output.double().std(correction=0)),
                               output.double().mean(dim=dims))
            handles.append(module.register_forward_hook(hook))
    _forward_with(model, x, handles)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("activation", [nn.Tanh, nn.ReLU])
def test_lsuv_converges_on_a_deep_mlp(activation):
    model = _mlp(activation)
    x = _inputs(256, 16)
    records = lsuv(model, x)
    assert [r.name for r in records] == [str(i) for i in range(0, 20, 2)]
    assert all(r.converged and r.reached for r in records)
    measured = _measured_stds(model, x)
    for record in records:
        assert abs(record.final_std - 1.0) < 0.1
        assert measured[record.name][0] == pytest.approx(record.final_std, rel=1e-6)
        assert record.iterations <= 10
        assert record.scale > 0


@pytest.mark.slow
def test_lsuv_converges_on_a_small_cnn_with_centering():
    model = _cnn()
    x = _inputs(32, 3, 16, 16)
    records = lsuv(model, x, center=True, target_std=0.5, tol=0.05)
    assert [r.name for r in records] == ["0", "2", "4", "7"]
    assert all(r.converged for r in records)
    measured = _measured_stds(model, x)
    for record in records:
        std, means = measured[record.name]
        assert abs(std - 0.5) < 0.05
        if record.name != "4":  # the layer without a bias is only rescaled
            assert float(means.abs().max()) < 0.05


def test_lsuv_pre_initialises_orthonormally():
    model = _mlp(nn.Tanh, depth=3)
    lsuv(model, _inputs(64, 16), max_iter=0, seed=7)
    for name in ("0", "2", "4"):
        weight = model.get_submodule(name).weight
        assert torch.equal(weight, init_(torch.empty_like(weight), "orthogonal", seed=7,
                                         name=f"{name}.weight"))


@pytest.mark.slow
def test_lsuv_is_deterministic_and_rescales_only_weights():
    a, b = _mlp(nn.ReLU, depth=4), _mlp(nn.ReLU, depth=4)
    b.load_state_dict(a.state_dict())
    biases = [m.bias.clone() for m in a if isinstance(m, nn.Linear)]
    lsuv(a, _inputs(64, 16))
    lsuv(b, _inputs(64, 16))
    for (_, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q)
    assert all(torch.equal(m.bias, bias) for m, bias in
               zip([m for m in a if isinstance(m, nn.Linear)], biases, strict=True))


def test_lsuv_restores_modes_removes_hooks_and_tracks_no_grad():
    model = nn.Sequential(nn.Linear(16, 32), nn.Dropout(0.5), nn.BatchNorm1d(32),
                          nn.Linear(32, 8))
    model.train()
    model[2].eval()  # mixed modes survive exactly
    running = model[2].running_mean.clone()
    lsuv(model, _inputs(64, 16))
    assert [m.training for m in model.modules()] == [True, True, True, False, True]
    assert torch.equal(model[2].running_mean, running)  # eval passes: BN stats untouched
    for module in model.modules():
        assert not module._forward_hooks
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert model[0].weight.grad_fn is None


def test_lsuv_handles_unreached_and_dead_layers():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(8, 8)
            self.dead = nn.Linear(8, 8, bias=False)
            self.unused = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.dead(self.used(x) * 0.0)

    records = {r.name: r for r in lsuv(Net(), _inputs(16, 8))}
    assert records["used"].converged and records["used"].status == "converged"
    assert records["used"].reason == "" and records["used"].parameter == "used.weight"
    dead = records["dead"]
    assert dead.final_std == 0.0 and not dead.converged and dead.iterations == 0
    assert dead.status == "skipped" and "output std on the batch is 0.0" in dead.reason
    unused = records["unused"]
    assert not unused.reached and not unused.converged and math.isnan(unused.final_std)
    assert unused.status == "skipped"
    assert "did not run in the forward pass" in unused.reason


def test_lsuv_accepts_tuple_and_dict_inputs():
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(4, 8)

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.a(x) + self.b(y)

    x, y = _inputs(32, 4), _inputs(32, 4) + 1
    assert [r.name for r in lsuv(Two(), (x, y))] == ["a", "b"]
    assert all(r.converged for r in lsuv(Two(), {"x": x, "y": y}))


def test_records_are_frozen_dataclasses():
    record = lsuv(nn.Linear(8, 8), _inputs(32, 8))[0]
    assert isinstance(record, LSUVRecord) and dataclasses.is_dataclass(record)
    assert record.name == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.scale = 2.0  # type: ignore[misc]


def test_lsuv_errors_name_the_problem():
    with pytest.raises(InitError, match="ReLU has no layer with a weight of >= 2 dims"):
        lsuv(nn.ReLU(), _inputs(4, 4))
    with pytest.raises(InitError, match=r"nothing to initialise \(parameters it does not "
                                        r"know: 'weight_ih', 'weight_hh'\)"):
        lsuv(nn.RNNCell(4, 4), _inputs(4, 4))
    model = _mlp(nn.Tanh, depth=3)
    model.train()
    with pytest.raises(InitError, match=r"forward pass failed on the given inputs \(Runtime"):
        lsuv(model, _inputs(4, 5))
    assert model.training and not any(m._forward_hooks for m in model.modules())
    with pytest.raises(InitError, match="tol must be a finite number > 0"):
        lsuv(model, _inputs(4, 16), tol=0)
    with pytest.raises(InitError, match="max_iter must be an int >= 0"):
        lsuv(model, _inputs(4, 16), max_iter=1.5)
    with pytest.raises(InitError, match="inputs must be a tensor"):
        lsuv(model, 3)


# --- Issue 15 item 5: recurrent and attention weights, records for what is left out ----

_GATE_NAMES = {"LSTM": "ifgo", "GRU": "rzn"}


def _recurrent_preactivations(rnn: nn.RNNBase, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """An independent measurement: every gate block's pre-activation (x_t W^T + b_ih and
    h_{t-1} W^T + b_hh) over all steps, from torch's documented LSTM/GRU equations run step
    by step (x is time first, zero initial state); checked against the module's output."""
    gates = _GATE_NAMES[rnn.mode]
    found: dict[str, torch.Tensor] = {}
    layer_input = x
    for layer in range(rnn.num_layers):
        outputs = []
        for suffix in ("", "_reverse")[: 1 + rnn.bidirectional]:
            w_ih, w_hh = (getattr(rnn, f"weight_{k}_l{layer}{suffix}") for k in ("ih", "hh"))
            b_ih, b_hh = (getattr(rnn, f"bias_{k}_l{layer}{suffix}") for k in ("ih", "hh"))
            sequence = layer_input.flip(0) if suffix else layer_input
            h = c = x.new_zeros(x.shape[1], rnn.hidden_size)
            from_x, from_h, hs = [], [], []
            for step in sequence:
                a, b = step @ w_ih.T + b_ih, h @ w_hh.T + b_hh
                from_x.append(a)
                from_h.append(b)
                if rnn.mode == "LSTM":
                    i, f, g, o = (a + b).chunk(4, -1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                else:
                    (ar, az, an), (br, bz, bn) = a.chunk(3, -1), b.chunk(3, -1)
                    r, z = torch.sigmoid(ar + br), torch.sigmoid(az + bz)
                    h = (1 - z) * torch.tanh(an + r * bn) + z * h
                hs.append(h)
            for kind, parts in (("ih", from_x), ("hh", from_h)):
                blocks = torch.stack(parts).chunk(len(gates), -1)
                for gate, block in zip(gates, blocks, strict=True):
                    found[f"rnn.weight_{kind}_l{layer}{suffix}[{gate}]"] = block
            out = torch.stack(hs)
            outputs.append(out.flip(0) if suffix else out)
        layer_input = torch.cat(outputs, -1)
    torch.testing.assert_close(layer_input, rnn(x)[0], rtol=1e-4, atol=1e-5)
    return found


class _Recurrent(nn.Module):
    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size * (1 + rnn.bidirectional), 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0])


def _weights(model: nn.Module) -> set[str]:
    """Every parameter of >= 2 dims but attention's (1, 1, E) bias_k/bias_v."""
    return {name for name, p in model.named_parameters()
            if p.dim() >= 2 and not name.endswith(("bias_k", "bias_v"))}


def _assert_all_converged(records: list[LSUVRecord], model: nn.Module,
                          measured: dict[str, torch.Tensor], target: float = 1.0,
                          tol: float = 0.1) -> None:
    assert {r.parameter for r in records} == _weights(model)
    for record in records:
        assert record.status == "converged" and record.reached, record
        assert math.isfinite(record.initial_std) and record.reason == ""
        std = float(measured[record.name].double().std(correction=0))
        assert abs(std - target) < tol, (record.name, std)
        assert std == pytest.approx(record.final_std, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("rnn", [
    lambda: nn.LSTM(6, 12),
    lambda: nn.GRU(6, 12),
    pytest.param(lambda: nn.LSTM(6, 12, num_layers=2, bidirectional=True),
                 marks=pytest.mark.slow),  # 16 gate groups, each a few passes
], ids=["lstm", "gru", "bilstm2"])
def test_lsuv_rescales_every_gate_block_of_a_recurrent_net(rnn):
    model = _Recurrent(rnn())
    x = _inputs(10, 24, 6)  # (time, batch, features)
    records = lsuv(model, x)
    gates = _GATE_NAMES[model.rnn.mode]
    blocks = [f"rnn.weight_{kind}_l{layer}{suffix}[{gate}]"
              for layer in range(model.rnn.num_layers)
              for suffix in ("", "_reverse")[: 1 + model.rnn.bidirectional]
              for kind in ("ih", "hh") for gate in gates]
    assert [r.name for r in records] == [*blocks, "head"]  # forward order
    with torch.no_grad():
        measured = _recurrent_preactivations(model.rnn, x)
        measured["head"] = model(x)
    _assert_all_converged(records, model, measured)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_lsuv_fits_an_lstm_projection_with_its_recurrent_blocks():
    model = nn.LSTM(6, 12, proj_size=4)
    x = _inputs(10, 24, 6)
    records = lsuv(model, x)
    assert [r.name for r in records][-5:] == [
        *(f"weight_hh_l0[{g}]" for g in "ifgo"), "weight_hr_l0"]
    assert all(r.status == "converged" for r in records)
    with torch.no_grad():
        assert abs(float(model(x)[0].double().std(correction=0)) - 1.0) < 0.1  # h_t: hr's output


def test_lsuv_recurrent_pre_init_is_orthonormal_per_gate_on_the_planner_streams():
    import paraminit.torch as pit

    a, b = nn.GRU(6, 12), nn.GRU(6, 12)
    lsuv(a, _inputs(5, 8, 6), max_iter=0, seed=3)
    pit.init(b, [pit.Rule(("weight", "recurrent"), "orthogonal")], seed=3)
    for name in ("weight_ih_l0", "weight_hh_l0"):
        assert torch.equal(getattr(a, name), getattr(b, name))


class _Attention(nn.Module):
    def __init__(self, **options) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True, **options)

    def forward(self, query, key, value):
        return self.attn(query, key, value)[0]


def _attention_outputs(attn: nn.MultiheadAttention, query, key, value, prefix="attn",
                       output=None):
    """An independent measurement: each q/k/v projection, and out_proj's output (the
    module's output)."""
    e, bias = attn.embed_dim, attn.in_proj_bias
    found = {}
    for index, (block, tensor) in enumerate(zip("qkv", (query, key, value), strict=True)):
        rows = slice(index * e, (index + 1) * e)
        if attn._qkv_same_embed_dim:
            name, weight = f"{prefix}.in_proj_weight[{block}]", attn.in_proj_weight[rows]
        else:
            name, weight = f"{prefix}.{block}_proj_weight", getattr(attn, f"{block}_proj_weight")
        found[name] = tensor @ weight.T + bias[rows]
    found[f"{prefix}.out_proj"] = attn(query, key, value)[0] if output is None else output[0]
    return found


@pytest.mark.parametrize("options", [{}, {"kdim": 6, "vdim": 5}], ids=["self", "kdim_vdim"])
def test_lsuv_rescales_attention_projections_and_out_proj(options):
    model = _Attention(**options)
    query = _inputs(8, 10, 16)
    key = torch.randn(8, 7, options.get("kdim", 16), generator=torch.Generator().manual_seed(1))
    value = torch.randn(8, 7, options.get("vdim", 16), generator=torch.Generator().manual_seed(2))
    inputs = (query, query, query) if not options else (query, key, value)
    records = lsuv(model, inputs)
    with torch.no_grad():
        measured = _attention_outputs(model.attn, *inputs)
    assert [r.name for r in records] == list(measured)
    assert records[-1].parameter == "attn.out_proj.weight"
    _assert_all_converged(records, model, measured)


def test_lsuv_covers_a_transformer_encoder_layer_and_keeps_the_fast_path_switch():
    model = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first=True)
    x = _inputs(8, 10, 16)
    records = lsuv(model, x, tol=0.05)
    assert torch.backends.mha.get_fastpath_enabled()
    assert [r.name for r in records] == [
        "self_attn.in_proj_weight[q]", "self_attn.in_proj_weight[k]",
        "self_attn.in_proj_weight[v]", "self_attn.out_proj", "linear1", "linear2"]
    measured: dict[str, torch.Tensor] = {}
    handles = [model.linear1.register_forward_hook(
                   lambda m, a, out: measured.__setitem__("linear1", out)),
               model.linear2.register_forward_hook(
                   lambda m, a, out: measured.__setitem__("linear2", out)),
               model.self_attn.register_forward_hook(
                   lambda m, a, out: measured.update(
                       _attention_outputs(m, *a, "self_attn", output=out)))]
    _forward_with(model, x, handles)
    _assert_all_converged(records, model, measured, tol=0.05)


def test_lsuv_records_what_it_leaves_out_with_a_reason():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(4, 8)
            self.cell = nn.GRUCell(4, 8)
            self.unused = nn.MultiheadAttention(8, 2)
            self.table = nn.Parameter(torch.ones(3, 8))

        def forward(self, x):
            return self.lstm(x)[0] + self.table.sum()

    model = Net()
    table, cell = model.table.clone(), model.cell.weight_ih.clone()
    records = {r.name: r for r in lsuv(model, _inputs(5, 6, 4))}
    assert {r.parameter for r in records.values()} == _weights(model)
    assert all(records[f"lstm.weight_{k}_l0[{g}]"].status == "converged"
               for k in ("ih", "hh") for g in "ifgo")
    for name in ("unused.in_proj_weight[q]", "unused.in_proj_weight[k]",
                 "unused.in_proj_weight[v]", "unused.out_proj"):
        record = records[name]
        assert record.status == "skipped" and not record.reached
        assert record.reason == ("its module (MultiheadAttention) did not run in the forward "
                                 "pass on the given inputs; it keeps the orthonormal pre-init")
    assert records["table"].status == "skipped" and records["table"].reached
    assert "LSUV does not know which output it produces" in records["table"].reason
    assert "a cell runs once per time step" in records["cell.weight_ih"].reason
    assert torch.equal(model.table, table) and torch.equal(model.cell.weight_ih, cell)


def test_lsuv_skips_an_rnn_fed_a_packed_sequence():
    packed = nn.utils.rnn.pack_padded_sequence(_inputs(5, 3, 4), [5, 4, 2])
    records = lsuv(nn.GRU(4, 8), (packed,))  # a PackedSequence is a tuple itself
    assert {r.status for r in records} == {"skipped"}
    assert all("PackedSequence" in r.reason and r.reached for r in records)


def test_a_failed_lsuv_leaves_the_model_as_it_was():
    model = _Recurrent(nn.LSTM(4, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InitError, match="forward pass failed"):
        lsuv(model, _inputs(5, 3, 7), center=True)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())

    class Once(nn.Module):  # calls its second layer on the first pass only
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.calls = nn.Linear(4, 4), nn.Linear(4, 4), 0

        def forward(self, x):
            self.calls += 1
            return self.b(self.a(x)) if self.calls == 1 else self.a(x)

    model = Once()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InitError, match="'b' ran in the first forward pass but not in a later"):
        lsuv(model, _inputs(16, 4), center=True)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_records_keep_their_positional_shape():
    record = LSUVRecord("0", 1, 0.5, 1.0, True, 2.0)
    assert (record.reached, record.status, record.reason, record.parameter) == (
        True, "converged", "", "")


def test_lsuv_reads_batch_first_and_unbatched_rnn_inputs_as_torch_does():
    x = _inputs(10, 24, 6)  # (time, batch, features)
    a, b = nn.GRU(6, 12, num_layers=2), nn.GRU(6, 12, num_layers=2, batch_first=True)
    b.load_state_dict(a.state_dict())  # the same biases
    first, batch_first = lsuv(a, x), lsuv(b, x.transpose(0, 1))
    assert [(r.name, r.iterations) for r in first] == [(r.name, r.iterations)
                                                       for r in batch_first]
    for a, b in zip(first, batch_first, strict=True):
        assert a.final_std == pytest.approx(b.final_std, rel=1e-5)
    one = lsuv(nn.GRU(6, 12), x[:, 0])  # unbatched: (time, features)
    assert all(r.status == "converged" for r in one)
