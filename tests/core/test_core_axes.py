"""One source of truth for the channel axes: every scheme that reads an in or out axis
(orthogonal, dirac, sparse, delta- and conv-orthogonal) reads the one its Fans read
(:func:`paraminit.core.fans.channel_axes`), transposed convolutions in every layout and
custom axes included; and the values follow the true axes."""

from __future__ import annotations

import numpy as np
import pytest

import paraminit as pi
import paraminit.numpy as pn
from paraminit.core.fans import channel_axes

# (layout, transposed, shape, in_axis, out_axis): in = 4 channels, out = 8, kernel 3 x 3
CONVS = [
    ("torch", False, (8, 4, 3, 3), 1, 0),  # Conv2d (out, in, *k)
    ("torch", True, (4, 8, 3, 3), 0, 1),  # ConvTranspose2d (in, out, *k)
    ("jax", False, (3, 3, 4, 8), 2, 3),  # Flax Conv (*k, in, out)
    ("jax", True, (3, 3, 4, 8), 2, 3),  # Flax ConvTranspose (*k, in, out)
    ("keras", False, (3, 3, 4, 8), 2, 3),  # Keras Conv (*k, in, out)
    ("keras", True, (3, 3, 8, 4), 3, 2),  # Keras ConvTranspose (*k, out, in)
]
IDS = [f"{layout}{'-transposed' if t else ''}" for layout, t, *_ in CONVS]
STRUCTURED = ["orthogonal", "dirac", "delta_orthogonal", "conv_orthogonal"]


def test_the_issue_example():
    spec = pi.resolve("orthogonal", (8, 4, 3, 3), layout="torch", transposed=True)
    fans = pi.compute_fans((8, 4, 3, 3), "torch", transposed=True)
    assert spec.params["out_axis"] == fans.out_axis == 1


@pytest.mark.parametrize("scheme", STRUCTURED)
@pytest.mark.parametrize(("layout", "transposed", "shape", "in_axis", "out_axis"), CONVS,
                         ids=IDS)
def test_schemes_read_the_axes_of_their_fans(scheme, layout, transposed, shape, in_axis,
                                             out_axis):
    fans = pi.compute_fans(shape, layout, transposed=transposed)
    assert (fans.in_axis, fans.out_axis) == (in_axis, out_axis)
    axes = channel_axes(shape, layout, transposed=transposed)
    assert (axes.in_axis, axes.out_axis, axes.grouped) == (in_axis, out_axis, fans.grouped)
    spec = pi.resolve(scheme, shape, layout=layout, transposed=transposed)
    assert spec.params["out_axis"] == out_axis
    if "in_axis" in spec.params:
        assert spec.params["in_axis"] == in_axis


@pytest.mark.parametrize(("layout", "transposed", "shape", "in_axis", "out_axis"), CONVS,
                         ids=IDS)
def test_orthogonal_rows_lie_along_the_true_out_axis(layout, transposed, shape, in_axis,
                                                     out_axis):
    w = pn.sample("orthogonal", shape, seed=1, name="w", layout=layout,
                  transposed=transposed, dtype="float64")
    rows = np.moveaxis(w, out_axis, 0).reshape(shape[out_axis], -1)  # 8 x 36: wide
    np.testing.assert_allclose(rows @ rows.T, np.eye(shape[out_axis]), atol=1e-12)
    # read along the in axis instead (4 x 72), the rows are not orthonormal
    other = np.moveaxis(w, in_axis, 0).reshape(shape[in_axis], -1)
    assert not np.allclose(other @ other.T, np.eye(shape[in_axis]), atol=1e-3)


def _channel_map(w: np.ndarray, in_axis: int, out_axis: int, grouped: str, groups: int):
    """(input channel, output channel) of every non-zero of a dirac kernel, in global
    channel numbers (the axis that holds one group's channels is offset by its group)."""
    pairs = []
    for index in np.argwhere(w != 0):
        i, o = int(index[in_axis]), int(index[out_axis])
        if grouped == "in":  # in axis holds one group's channels, out the full count
            i += (o // (w.shape[out_axis] // groups)) * w.shape[in_axis]
        else:
            o += (i // (w.shape[in_axis] // groups)) * w.shape[out_axis]
        pairs.append((i, o))
    return sorted(pairs)


# square convolutions (8 -> 8 channels, 2 groups): dirac passes each channel through
DIRACS = [
    ("torch", False, (8, 4, 3, 3)),  # (out, in/groups, *k)
    ("torch", True, (8, 4, 3, 3)),  # (in, out/groups, *k)
    ("jax", False, (3, 3, 4, 8)),
    ("jax", True, (3, 3, 4, 8)),
    ("keras", False, (3, 3, 4, 8)),
    ("keras", True, (3, 3, 4, 8)),  # (*k, out/groups, in)
]


@pytest.mark.parametrize(("layout", "transposed", "shape"), DIRACS,
                         ids=[f"{a}{'-transposed' if b else ''}" for a, b, _ in DIRACS])
def test_dirac_maps_each_channel_to_itself_in_every_layout(layout, transposed, shape):
    spec = pi.resolve("dirac", shape, layout=layout, transposed=transposed, groups=2)
    fans = pi.compute_fans(shape, layout, transposed=transposed, groups=2)
    assert (spec.params["in_axis"], spec.params["out_axis"]) == (fans.in_axis, fans.out_axis)
    w = pn.sample(spec, seed=0, dtype="float64")
    assert _channel_map(w, fans.in_axis, fans.out_axis, fans.grouped, 2) == [
        (c, c) for c in range(8)]
    centre = [k // 2 for i, k in enumerate(shape) if i not in (fans.in_axis, fans.out_axis)]
    for index in np.argwhere(w != 0):
        kernel = [int(k) for i, k in enumerate(index) if i not in (fans.in_axis, fans.out_axis)]
        assert kernel == centre


def test_dirac_through_torch_conv_transpose_is_the_identity():
    torch = pytest.importorskip("torch")
    w = pn.sample("dirac", (8, 4, 3, 3), seed=0, groups=2, transposed=True, dtype="float64")
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    y = torch.nn.functional.conv_transpose2d(x, torch.from_numpy(w), padding=1, groups=2)
    torch.testing.assert_close(y, x, rtol=0, atol=0)


def test_dirac_groups_divide_the_full_channel_axis():
    # transposed: the in axis holds every channel, the out axis one group's
    with pytest.raises(pi.InitError, match=r"groups=2 must divide the in-channels \(3\)"):
        pi.resolve("dirac", (3, 4, 3), transposed=True, groups=2)
    with pytest.raises(pi.InitError, match=r"groups=2 must divide the out-channels \(3\)"):
        pi.resolve("dirac", (3, 4, 3), groups=2)


@pytest.mark.parametrize(("layout", "transposed", "shape", "in_axis", "out_axis"), CONVS,
                         ids=IDS)
def test_delta_orthogonal_centre_is_orthogonal_along_the_true_axes(layout, transposed, shape,
                                                                  in_axis, out_axis):
    w = pn.sample("delta_orthogonal", shape, seed=2, layout=layout, transposed=transposed,
                  dtype="float64")
    centre = [slice(None) if i in (in_axis, out_axis) else (k - 1) // 2
              for i, k in enumerate(shape)]
    tap = w[tuple(centre)]  # the two channel axes, in their order in the shape
    h = tap if out_axis < in_axis else tap.T  # (out, in), orthonormal columns
    np.testing.assert_allclose(h.T @ h, np.eye(shape[in_axis]), atol=1e-12)
    assert np.count_nonzero(w) == np.count_nonzero(tap)  # every other tap is zero


@pytest.mark.parametrize(("in_axis", "out_axis"), [(1, 0), (0, 1), (-1, -2)])
def test_sparse_custom_axes_are_the_fans_axes(in_axis, out_axis):
    fans = pi.compute_fans((5, 7), in_axis=in_axis, out_axis=out_axis)
    spec = pi.resolve("sparse", (5, 7), in_axis=in_axis, out_axis=out_axis, nonzeros=3)
    assert spec.params["out_axis"] == fans.out_axis
    w = pn.sample(spec, seed=4, dtype="float64")
    per_unit = np.count_nonzero(w, axis=fans.in_axis)  # the non-zeros of each output unit
    assert per_unit.tolist() == [3] * (5, 7)[fans.out_axis]


@pytest.mark.parametrize(("in_axis", "out_axis"), [(0, 2), (2, 0), (-3, -1)])
def test_dirac_and_orthogonal_custom_axes_are_the_fans_axes(in_axis, out_axis):
    shape = (4, 3, 4)  # 4 channels in and out on the custom axes, a kernel of 3 on axis 1
    fans = pi.compute_fans(shape, in_axis=in_axis, out_axis=out_axis)
    dirac = pi.resolve("dirac", shape, in_axis=in_axis, out_axis=out_axis)
    assert (dirac.params["in_axis"], dirac.params["out_axis"]) == (fans.in_axis, fans.out_axis)
    w = pn.sample(dirac, seed=0, dtype="float64")
    assert _channel_map(w, fans.in_axis, fans.out_axis, fans.grouped, 1) == [
        (c, c) for c in range(4)]
    assert (np.argwhere(w != 0)[:, 1] == 1).all()  # the kernel's centre
    ortho = pi.resolve("orthogonal", shape, in_axis=in_axis, out_axis=out_axis)
    assert ortho.params["out_axis"] == fans.out_axis
    rows = np.moveaxis(pn.sample(ortho, seed=0, dtype="float64"), fans.out_axis, 0)
    rows = rows.reshape(4, -1)
    np.testing.assert_allclose(rows @ rows.T, np.eye(4), atol=1e-12)


def test_non_transposed_axes_are_unchanged():
    """The out axis before the Fans were its source: 0 in torch, the last axis otherwise."""
    for layout in ("torch", "jax", "keras"):
        for shape in [(6, 5), (8, 4, 3), (8, 4, 3, 3), (8, 4, 3, 3, 3)]:
            expected = 0 if layout == "torch" else len(shape) - 1
            assert pi.resolve("orthogonal", shape, layout=layout).params["out_axis"] == expected
            if len(shape) == 2:
                sparse = pi.resolve("sparse", shape, layout=layout, nonzeros=2)
                assert sparse.params["out_axis"] == expected
            else:
                dirac = pi.resolve("dirac", shape, layout=layout)
                assert dirac.params["out_axis"] == expected
                assert dirac.params["in_axis"] == (1 if layout == "torch" else len(shape) - 2)


@pytest.mark.parametrize("scheme", ["orthogonal", "sparse"])
def test_transposed_needs_a_convolution_weight(scheme):
    with pytest.raises(pi.InitError, match=rf"{scheme}: transposed=True needs a convolution"):
        pi.resolve(scheme, (6, 5), transposed=True)


def test_orthogonal_and_sparse_take_out_axis_alone():
    assert pi.resolve("orthogonal", (3, 4, 5), out_axis=2).params["out_axis"] == 2
    assert pi.resolve("sparse", (6, 5), out_axis=1, nonzeros=2).params["out_axis"] == 1
