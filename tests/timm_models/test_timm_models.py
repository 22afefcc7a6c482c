"""timm models built from their registry without weights (pretrained=False, no downloads):
every parameter covered, q/k/v blocks with their own fans, values where the blocks lie,
measured std right, the same values on rerun, the forward pass finite.

timm imports torchvision, whose wheels on PyPI are built against a CUDA torch; they do not
load beside the CPU torch 2.13.0 of the main test environment. ``bash dev.sh test`` runs
this directory in a second environment (torch 2.14.1 + torchvision 0.29.1, see
``constraints-timm.txt``); where timm does not import, these tests skip.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import paraminit.numpy as pn
import paraminit.torch as pit
from paraminit.plan import InitWarning

timm = pytest.importorskip("timm", exc_type=ImportError)

MODELS = {
    "vit": dict(name="vit_tiny_patch16_224", img_size=32, patch_size=8, depth=3),
    "resnet": dict(name="resnet18"),
}


def build(kind: str) -> torch.nn.Module:
    options = dict(MODELS[kind])
    return timm.create_model(options.pop("name"), pretrained=False, num_classes=10, **options)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_parameter_covered_std_right_rerun_same_forward_finite(kind):
    model = build(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InitWarning)
        plan = pit.init(model, "he", seed=4, strict=True)
    assert all(row.status == "init" for row in plan)
    assert pit.audit(model, plan) == []
    again = build(kind)
    pit.init(again, "he", seed=4)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_vit_qkv_blocks_have_their_own_fans_and_values():
    model = build("vit")
    plan = pit.init(model, "xavier", seed=0)
    d = model.embed_dim
    weight = model.blocks[1].attn.qkv.weight  # (3 d, d): q, k, v thirds
    for i, block in enumerate("qkv"):
        row = plan[f"blocks.1.attn.qkv.weight[{block}]"]
        assert row.shape == (d, d) and (row.fan_in, row.fan_out) == (d, d)
        assert row.std == pytest.approx((2 / (2 * d)) ** 0.5)
        values = torch.from_numpy(pn.sample(row.spec, seed=0, name=row.name))
        assert torch.equal(weight[i * d:(i + 1) * d], values)
    marked = {info.name for info in plan.params if info.residual == "out"}
    assert marked == {f"blocks.{i}.{m}.weight" for i in range(3) for m in ("attn.proj", "mlp.fc2")}


def test_resnet_convs_use_their_own_fans():
    model = build("resnet")
    plan = pit.init(model, "he", seed=0)
    row = plan["layer2.0.conv1.weight"]  # 3x3, 64 -> 128
    assert (row.fan_in, row.fan_out) == (64 * 9, 128 * 9)
    assert row.std == pytest.approx((2 / (64 * 9)) ** 0.5)
    assert plan["layer2.0.bn1.weight"].scheme == "ones"
