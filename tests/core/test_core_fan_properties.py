"""Properties of compute_fans on random convolution shapes, layouts and groups."""

from __future__ import annotations

import math

from hypothesis import assume, given
from hypothesis import strategies as st

import paraminit as pi


@st.composite
def convs(draw):
    """A grouped convolution: groups, per-group channels and a 0- to 3-D kernel."""
    groups = draw(st.integers(1, 4))
    in_pg = draw(st.integers(1, 6))
    out_pg = draw(st.integers(1, 6))
    kernel = tuple(draw(st.lists(st.integers(1, 5), min_size=0, max_size=3)))
    return groups, in_pg, out_pg, kernel


def _torch(groups, in_pg, out_pg, kernel):
    return (out_pg * groups, in_pg, *kernel)


def _jax(groups, in_pg, out_pg, kernel):
    return (*kernel, in_pg, out_pg * groups)


@given(convs())
def test_conv_fans_formula(conv):
    groups, in_pg, out_pg, kernel = conv
    rf = math.prod(kernel)
    for layout, shape in (("torch", _torch(*conv)), ("jax", _jax(*conv)), ("keras", _jax(*conv))):
        fans = pi.compute_fans(shape, layout, groups=groups)
        assert fans.receptive == rf
        assert fans.fan_in == in_pg * rf
        assert fans.fan_out == out_pg * rf
        # fan_in * fan_out = in_pg * out_pg * rf^2; their ratio is the channel ratio
        assert fans.fan_in * fans.fan_out == in_pg * out_pg * rf * rf
        assert fans.fan_in * out_pg == fans.fan_out * in_pg
        assert fans.shape == shape and fans.groups == groups


@given(convs())
def test_torch_and_jax_layouts_transposed_agree(conv):
    groups = conv[0]
    shape = _torch(*conv)
    rank = len(shape)
    # torch (out, in, *k) -> jax (*k, in, out)
    perm = (*range(2, rank), 1, 0)
    jax_shape = tuple(shape[i] for i in perm)
    a = pi.compute_fans(shape, "torch", groups=groups)
    b = pi.compute_fans(jax_shape, "jax", groups=groups)
    assert (a.fan_in, a.fan_out, a.receptive) == (b.fan_in, b.fan_out, b.receptive)
    # and the same with custom axes naming the channel axes explicitly
    c = pi.compute_fans(jax_shape, in_axis=rank - 2, out_axis=rank - 1, groups=groups)
    assert (c.fan_in, c.fan_out) == (a.fan_in, a.fan_out)


@given(convs())
def test_groups_divide(conv):
    groups, in_pg, out_pg, kernel = conv
    # a grouped conv's fans are those of one group's dense sub-conv
    grouped = pi.compute_fans(_torch(*conv), "torch", groups=groups)
    one_group = pi.compute_fans((out_pg, in_pg, *kernel), "torch")
    assert (grouped.fan_in, grouped.fan_out) == (one_group.fan_in, one_group.fan_out)
    # torch's literal reading overstates fan_out by exactly the group count
    literal = pi.compute_fans(_torch(*conv), "torch", groups=groups, fan_convention="torch")
    assert literal.fan_in == grouped.fan_in
    assert literal.fan_out == groups * grouped.fan_out


@given(convs(), st.integers(2, 5))
def test_groups_not_dividing_raise(conv, groups):
    _, in_pg, out_pg, kernel = conv
    assume(out_pg % groups)
    shape = (out_pg, in_pg, *kernel)
    try:
        pi.compute_fans(shape, "torch", groups=groups)
    except pi.InitError as error:
        assert f"groups={groups} must divide" in str(error)
    else:  # pragma: no cover - the assertion documents the failure
        raise AssertionError(f"groups={groups} accepted for {shape}")


@given(convs(), st.sampled_from(["torch", "jax", "keras"]))
def test_literal_and_paraminit_agree_without_groups_or_transposition(conv, layout):
    _, in_pg, out_pg, kernel = conv
    shape = _torch(1, in_pg, out_pg, kernel) if layout == "torch" else _jax(
        1, in_pg, out_pg, kernel)
    ours = pi.compute_fans(shape, layout)
    for convention in ("torch", "keras", "jax"):
        theirs = pi.compute_fans(shape, layout, fan_convention=convention)
        assert (theirs.fan_in, theirs.fan_out) == (ours.fan_in, ours.fan_out)


@st.composite
def transposed_convs(draw):
    groups = draw(st.integers(1, 4))
    in_pg = draw(st.integers(1, 6))
    out_pg = draw(st.integers(1, 6))
    kernel = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    return groups, in_pg, out_pg, kernel


@given(transposed_convs())
def test_transposed_layouts_agree(conv):
    groups, in_pg, out_pg, kernel = conv
    rf = math.prod(kernel)
    cin, cout = in_pg * groups, out_pg * groups
    torch_fans = pi.compute_fans((cin, out_pg, *kernel), "torch", groups=groups, transposed=True)
    flax_fans = pi.compute_fans((*kernel, in_pg, cout), "jax", groups=groups, transposed=True)
    keras_fans = pi.compute_fans((*kernel, out_pg, cin), "keras", groups=groups,
                                 transposed=True)
    for fans in (torch_fans, flax_fans, keras_fans):
        assert (fans.fan_in, fans.fan_out, fans.receptive) == (in_pg * rf, out_pg * rf, rf)
    # a transposed conv's forward fans equal those of the regular conv with the same
    # per-group channel counts
    regular = pi.compute_fans((cout, in_pg, *kernel), "torch", groups=groups)
    assert (regular.fan_in, regular.fan_out) == (torch_fans.fan_in, torch_fans.fan_out)


@given(transposed_convs(), st.lists(st.integers(1, 4), min_size=3, max_size=3))
def test_stride_divides_transposed_fan_in(conv, strides):
    groups, in_pg, out_pg, kernel = conv
    stride = tuple(strides[: len(kernel)])
    shape = (in_pg * groups, out_pg, *kernel)
    plain = pi.compute_fans(shape, "torch", groups=groups, transposed=True)
    strided = pi.compute_fans(shape, "torch", groups=groups, transposed=True, stride=stride)
    assert strided.fan_in * math.prod(stride) == plain.fan_in
    assert strided.fan_out == plain.fan_out
    assert strided.stride == stride
    # an int stride means the same stride on every kernel dim
    same = pi.compute_fans(shape, "torch", groups=groups, transposed=True, stride=stride[0])
    assert same.fan_in == plain.fan_in / stride[0] ** len(kernel)


@given(convs())
def test_fans_feed_the_variance_scaling_formula(conv):
    groups = conv[0]
    shape = _torch(*conv)
    fans = pi.compute_fans(shape, groups=groups)
    spec = pi.resolve("xavier_normal", shape, groups=groups)
    assert spec.std == pi.resolve("variance_scaling", shape, groups=groups, scale=1.0,
                                  mode="fan_avg", distribution="normal").std
    assert math.isclose(spec.std, math.sqrt(2 / (fans.fan_in + fans.fan_out)), rel_tol=1e-14)
