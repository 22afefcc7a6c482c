"""paraminit.theory's surface: exports, result types, recommend's options, no framework."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

import paraminit as pi
import paraminit.theory as th

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_all_is_sorted_and_importable():
    assert th.__all__ == sorted(th.__all__)
    for name in th.__all__:
        assert getattr(th, name) is not None, name
    from paraminit.theory import _activation, _isometry, _meanfield, _quadrature, _recommend

    for module in (_activation, _isometry, _meanfield, _quadrature, _recommend):
        assert module.__all__ == sorted(module.__all__), module.__name__


def test_theory_imports_no_framework():
    code = ("import sys, paraminit.theory as t; t.critical_point('tanh', 0.05); "
            "bad = {'torch', 'jax', 'keras', 'tensorflow'} & set(sys.modules); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": SRC})


def test_results_are_frozen_dataclasses():
    point = th.critical_point("tanh", 0.05)
    scales = th.depth_scales("tanh", sigma_w2=1.0, sigma_b2=0.05)
    moments = th.isometry_moments("tanh", sigma_w2=1.0, sigma_b2=0.05)
    for result in (point, scales, moments):
        assert dataclasses.is_dataclass(result)
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.sigma_w2 = 2.0  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(point)] == [
        "sigma_w2", "sigma_b2", "q_star", "chi1"]


def test_keyword_only_options():
    with pytest.raises(TypeError):
        th.fixed_point("tanh", 1.0, 0.05)  # type: ignore[misc]
    with pytest.raises(TypeError):
        th.recommend("tanh", 10, 0.05)  # type: ignore[misc]


def test_recommend_tanh():
    rec = th.recommend("tanh", 50, sigma_b2=0.05)
    assert rec["scheme"] == "variance_scaling"
    assert rec["scale"] == pytest.approx(1.76095, abs=1e-5)
    assert rec["sigma_w2"] == rec["scale"]
    assert (rec["mode"], rec["distribution"]) == ("fan_in", "normal")
    assert rec["bias_std"] == pytest.approx(math.sqrt(0.05), rel=1e-15)
    assert rec["q_star"] == pytest.approx(0.57005, abs=1e-5)
    assert rec["chi1"] == pytest.approx(1.0, abs=1e-12)
    assert rec["xi_c"] == math.inf and rec["xi_q"] > 0
    assert rec["depth"] == 50
    assert "depth 50" in rec["explanation"] and "edge of chaos" in rec["explanation"]
    low, high = rec["sigma_w2_range"]
    assert low < rec["scale"] < high
    # at the band's edges 6 xi_c = depth exactly (ordered side: xi_c = -1/ln chi1)
    for edge in (low, high):
        assert 6 * th.depth_scales("tanh", sigma_w2=edge, sigma_b2=0.05).xi_c == (
            pytest.approx(50, rel=1e-6))
    # and the options drive the registry directly
    spec = pi.resolve(rec["scheme"], (64, 32), layout="torch",
                      **{key: rec[key] for key in ("scale", "mode", "distribution")})
    assert spec.std == pytest.approx(math.sqrt(rec["scale"] / 32), rel=1e-15)
    bias = pi.resolve("normal", (64,), std=rec["bias_std"])
    assert bias.std == rec["bias_std"]


def test_recommend_relu_is_he_init():
    rec = th.recommend("relu", 20)
    assert rec["scale"] == pytest.approx(2.0, abs=1e-12)  # He et al. 2015
    assert rec["bias_std"] == 0.0 and rec["q_star"] == 0.0
    assert "zero biases" in rec["explanation"]
    low, high = rec["sigma_w2_range"]
    # no chaotic phase with a finite q*: the band ends at 2; below, chi1 = sigma_w2 / 2
    assert high == pytest.approx(2.0, abs=1e-9)
    assert low == pytest.approx(2 * math.exp(-6 / 20), rel=1e-9)


def test_recommend_shallow_network_has_open_band():
    rec = th.recommend("tanh", 3, sigma_b2=0.05, distribution="truncated_normal")
    assert rec["distribution"] == "truncated_normal"
    assert rec["sigma_w2_range"][1] == math.inf


def test_docstring_examples():
    import doctest

    from paraminit import theory
    from paraminit.theory import _isometry, _meanfield, _recommend

    for module in (theory, _meanfield, _isometry, _recommend):
        failures, tried = doctest.testmod(module)
        assert failures == 0 and tried > 0, module.__name__
