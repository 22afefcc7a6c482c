"""Structured inits (orthogonal, identity, dirac, sparse, delta- and conv-orthogonal, ZerO's
identity/Hadamard matrices).

Element-wise laws are sampled in :mod:`paraminit.numpy`; these need the whole tensor
(a QR factorisation, a mask per unit), so they are computed whole, in float64, and the
caller casts once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .engines import canonical, smallest_k
from .engines.law import NORMAL_REACH
from .spec import InitSpec
from .stream import Stream

__all__ = ["matrix_shape", "orthogonal_from_gaussian", "random_reach", "structured_values",
           "support", "sylvester_hadamard", "zero_matrix"]


def _as_matrix_shape(shape: tuple[int, ...], out_axis: int) -> tuple[int, int]:
    rows = shape[out_axis]
    return rows, (math.prod(shape) // rows if rows else 0)


def _from_matrix(matrix: Any, shape: tuple[int, ...], out_axis: int, xp: Any = np) -> Any:
    moved = [shape[out_axis], *(d for i, d in enumerate(shape) if i != out_axis)]
    return xp.moveaxis(matrix.reshape(moved), 0, out_axis)


def orthogonal(spec: InitSpec, stream: Stream) -> np.ndarray:
    """gain·Q with Q Haar-distributed: QR of a Gaussian matrix, columns times sign(diag R).

    Without the sign fix, numpy's QR (Householder, LAPACK) returns a Q whose law is not
    Haar (Mezzadri 2007, §5). The Gaussian is drawn as the (rows, cols) matrix of the
    out-axis against the rest, transposed when rows < cols so QR sees a tall matrix
    (as torch.nn.init.orthogonal_). ``method="svd"`` takes U·Vᵀ of the SVD instead
    (Saxe et al. 2014 use the SVD of a Gaussian matrix).
    """
    rows, cols = matrix_shape(spec)
    return orthogonal_from_gaussian(spec, _gaussian(stream, rows, cols))


def matrix_shape(spec: InitSpec) -> tuple[int, int]:
    """(rows, cols) of an orthogonal spec's matrix: its out-axis against the rest."""
    return _as_matrix_shape(spec.shape, spec.params["out_axis"])


def orthogonal_from_gaussian(spec: InitSpec, gaussian: Any, xp: Any = np) -> Any:
    """An orthogonal spec's values from its (rows, cols) Gaussian matrix (elements 0..n of
    the stream). ``xp`` is the array library: NumPy, or torch for a tensor on its device."""
    params = spec.params
    q = _semi_orthogonal(gaussian, params["method"], xp)
    return _from_matrix(params["gain"] * q, spec.shape, params["out_axis"], xp)


def _gaussian(stream: Stream, rows: int, cols: int) -> np.ndarray:
    return stream.normal(0, rows * cols).reshape(rows, cols)


def _semi_orthogonal(gaussian: Any, method: str = "qr", xp: Any = np) -> Any:
    """A Haar matrix of the Gaussian's shape with orthonormal rows or columns."""
    rows, cols = gaussian.shape
    tall = gaussian.T if rows < cols else gaussian
    if method == "svd":
        u, _, vt = xp.linalg.svd(tall, full_matrices=False)
        q = u @ vt
    else:
        q, r = xp.linalg.qr(tall)
        signs = xp.sign(r.diagonal())
        q = q * xp.where(signs == 0, 1.0, signs)
    return q.T if rows < cols else q


def support(spec: InitSpec) -> tuple[tuple[np.ndarray, ...], float]:
    """The non-zeros of identity and dirac: (an index array per dimension, their value).

    Every other element is 0. Identity: ``gain`` on the main diagonal. Dirac: 1 at the
    kernel centre k//2 from input channel g·in_per_group + d to output g·out_per_group + d,
    in every group, for d < min(in_per_group, out_per_group); on the channel axis that holds
    one group's channels (``params["grouped"]``) the index is d alone.
    """
    shape, params = spec.shape, spec.params
    if math.prod(shape) == 0:
        return tuple(np.zeros(0, dtype=np.intp) for _ in shape), 0.0
    if spec.distribution == "identity":
        diagonal = np.arange(min(shape))
        return (diagonal, diagonal), params["gain"]
    groups = params["groups"]
    split, held = ((params["out_axis"], params["in_axis"]) if params["grouped"] == "in"
                   else (params["in_axis"], params["out_axis"]))
    per_group = shape[split] // groups
    channels = np.arange(min(per_group, shape[held]))
    spread = (np.arange(groups)[:, None] * per_group + channels).reshape(-1)
    index = [np.full(spread.size, k // 2) for k in shape]
    index[split] = spread
    index[held] = np.tile(channels, groups)
    return tuple(index), 1.0


def _from_support(spec: InitSpec, stream: Stream) -> np.ndarray:
    del stream  # deterministic
    values = np.zeros(spec.shape, dtype=np.float64)
    index, value = support(spec)
    values[index] = value
    return values


def sparse(spec: InitSpec, stream: Stream) -> np.ndarray:
    """Exactly k non-zeros per unit: the k smallest of per-element uniform keys survive
    (ties broken by the lower index).

    Values come from ``stream`` (element index); the mask from the sub-stream
    ``purpose="mask"``, so mask and values are independent.
    """
    params = spec.params
    out_axis, k = params["out_axis"], params["nonzeros"]
    numel = math.prod(spec.shape)
    if numel == 0:
        return np.zeros(spec.shape)
    values = stream.normal(0, numel).reshape(spec.shape)
    values *= params["value_std"]
    keys = np.moveaxis(stream.substream("mask").uniform(0, numel).reshape(spec.shape),
                       out_axis, 0)
    keep = smallest_k(keys.reshape(keys.shape[0], -1), k)  # a view for 2-D shapes
    np.copyto(values, 0.0, where=~np.moveaxis(keep.reshape(keys.shape), 0, out_axis))
    return values


def _to_layout(kernel: np.ndarray, params: dict) -> np.ndarray:
    """A (*taps, in, out) kernel moved to the spec's spatial, in and out axes."""
    rank = kernel.ndim
    destination = [*params["spatial_axes"], params["in_axis"], params["out_axis"]]
    return np.moveaxis(kernel, list(range(rank)), destination)


def delta_orthogonal(spec: InitSpec, stream: Stream) -> np.ndarray:
    """gain·H at the centre tap, zeros elsewhere (Xiao et al. 2018, Algorithm 2).

    H is the Haar (out, in) matrix with orthonormal columns of :func:`orthogonal` on an
    (out, in) shape; the tap is ``params["centre"]`` in every spatial axis. The draw does
    not depend on the layout, so torch and jax kernels of one (seed, name) are the same
    operator.
    """
    params = spec.params
    taps = tuple(spec.shape[axis] for axis in params["spatial_axes"])
    h = _semi_orthogonal(_gaussian(stream, params["out_channels"], params["in_channels"]))
    kernel = np.zeros((*taps, params["in_channels"], params["out_channels"]))
    kernel[tuple(params["centre"])] = params["gain"] * h.T
    return _to_layout(kernel, params)


def _symmetric_projection(stream: Stream, n: int) -> np.ndarray:
    """P = Q·diag(m)·Qᵀ, Q Haar orthogonal, m_i ~ Bernoulli(1/2): P = P² = Pᵀ.

    As TF's ``_symmetric_projection``: a projection onto a random subspace whose
    dimension is Binomial(n, 1/2). The mask comes from the sub-stream's own sub-stream,
    so it is independent of Q.
    """
    q = _semi_orthogonal(_gaussian(stream, n, n))
    # u < 1/2 is a fair coin: u is uniform on (0, 1), never exactly 1/2 (52-bit grid + 1/2)
    mask = stream.substream(stream.purpose + "/mask").uniform(0, n) < 0.5
    kept = q[:, mask]
    return kept @ kept.T


def _times_factor(kernel: np.ndarray, projection: np.ndarray, axis: int) -> np.ndarray:
    """kernel(z) · (P + (I − P)·z_axis): one more tap along ``axis``.

    On |z| = 1 the factor is unitary (P and I − P are complementary orthogonal
    projections), so a product of such factors is a paraunitary filter.
    """
    grown = list(kernel.shape)
    grown[axis] += 1
    out = np.zeros(grown)
    head = [slice(None)] * kernel.ndim
    tail = list(head)
    head[axis], tail[axis] = slice(0, -1), slice(1, None)
    out[tuple(head)] += kernel @ projection
    out[tuple(tail)] += kernel @ (np.eye(len(projection)) - projection)
    return out


def conv_orthogonal(spec: InitSpec, stream: Stream) -> np.ndarray:
    """An orthogonal convolution kernel (Xiao et al. 2018, Algorithm 1; TF ConvolutionOrthogonal).

    K(z) = H · ∏ (P_j + (I − P_j)·z_{axis_j}) as a (*taps, in, out) polynomial in the
    spatial shifts z, with H the (in, out) matrix with orthonormal rows (the transpose of
    :func:`delta_orthogonal`'s draw) and each P_j a random symmetric projection
    (:func:`_symmetric_projection`, sub-stream ``"conv_orthogonal/projection/j"``). Each
    spatial axis of size k gets k − 1 factors; they are multiplied round-robin over the
    axes (axis 0, 1, ..., then again), as TF's 2-D ``_block_orth`` pairs do. K(z) is
    paraunitary, so the circular convolution with K is gain times an isometry.
    """
    params = spec.params
    taps = tuple(spec.shape[axis] for axis in params["spatial_axes"])
    n = params["out_channels"]
    h = _semi_orthogonal(_gaussian(stream, n, params["in_channels"])).T
    kernel = np.eye(n).reshape((1,) * len(taps) + (n, n))
    index = 0
    for step in range(max(taps, default=1) - 1):
        for axis, size in enumerate(taps):
            if step < size - 1:
                purpose = f"conv_orthogonal/projection/{index}"
                kernel = _times_factor(
                    kernel, _symmetric_projection(stream.substream(purpose), n), axis)
                index += 1
    return _to_layout(params["gain"] * (h @ kernel), params)


def sylvester_hadamard(size: int) -> np.ndarray:
    """Sylvester's Hadamard matrix H of order ``size`` (a power of 2): H[i, j] = (-1)^(number
    of 1-bits of i & j), entries +-1, H Hᵀ = size · I (``scipy.linalg.hadamard`` builds the
    same matrix by the Kronecker recursion H_2k = [[H_k, H_k], [H_k, -H_k]])."""
    index = np.arange(size, dtype=np.int64)
    both = index[:, None] & index[None, :]
    parity = np.zeros(both.shape, dtype=np.int64)
    while both.any():
        parity ^= both & 1
        both >>= 1
    return 1.0 - 2.0 * parity


def zero_matrix(rows: int, cols: int) -> np.ndarray:
    """ZerO's matrix W (rows = out, cols = in) of Zhao, Schäfer & Anandkumar 2022, Algorithm 1.

    rows <= cols (square or narrowing): the partial identity I* (ones at (i, i)), which
    passes the first ``rows`` inputs on. rows > cols (widening): c · I* H_p I*, the top-left
    rows x cols block of Sylvester's Hadamard matrix of order p = 2^ceil(log2(rows)) times
    c = 2^(-log2(p)/2) = 1/sqrt(p), so that H_p / sqrt(p) is orthogonal: each input reaches
    every output with weight +-c, no input is lost (the block has full column rank; its
    columns are orthonormal when rows is a power of 2), and no output is dead as the
    rows - cols zero rows of a partial identity would be (the rank constraint of the
    paper's Theorem 1).
    The normalisation is the authors' reference code (``ZerO_Init_on_matrix`` in
    github.com/jiaweizzhao/ZerO-initialization, ``example_mnist.ipynb``).
    """
    if rows <= cols:
        return np.eye(rows, cols)
    order = 1 << (rows - 1).bit_length()  # 2^ceil(log2(rows))
    return sylvester_hadamard(order)[:rows, :cols] / math.sqrt(order)


def _zero_values(spec: InitSpec, stream: Stream) -> np.ndarray:
    """ZerO's matrix at the kernel centre (k//2 per kernel dim, as the authors' conv code
    and torch's dirac_), times gain; zeros at every other tap."""
    del stream  # deterministic
    params = spec.params
    out_axis, in_axis = params["out_axis"], params["in_axis"]
    values = np.zeros(spec.shape, dtype=np.float64)
    if values.size == 0:
        return values
    matrix = params["gain"] * zero_matrix(spec.shape[out_axis], spec.shape[in_axis])
    index: list[Any] = [k // 2 for k in spec.shape]
    index[out_axis], index[in_axis] = slice(None), slice(None)
    # numpy puts the two sliced axes first, in axis order
    values[tuple(index)] = matrix if out_axis < in_axis else matrix.T
    return values


_SAMPLERS = {
    "orthogonal": orthogonal, "identity": _from_support, "dirac": _from_support,
    "sparse": sparse, "identity_hadamard": _zero_values,
    "delta_orthogonal": delta_orthogonal, "conv_orthogonal": conv_orthogonal,
}


def random_reach(spec: InitSpec) -> float:
    """A bound on |value| of a random structured spec, known before sampling (a traced
    sampler cannot look at its values): gain for the orthogonal family, whose values are
    entries of gain times a matrix with orthonormal rows or columns (for conv_orthogonal, of
    the circular convolution's matrix), and NORMAL_REACH value stds for sparse."""
    if spec.distribution == "sparse":
        return NORMAL_REACH * abs(spec.params["value_std"])
    return abs(spec.params["gain"])


def structured_values(spec: InitSpec, stream: Stream) -> np.ndarray:
    """Float64 values of a structured spec (``spec.distribution`` one of the above), in
    its storage layout, computed in the canonical element order."""
    moved = canonical(spec)
    values = _SAMPLERS[spec.distribution](moved.spec, stream)
    return values if moved.to_storage is None else values.transpose(moved.to_storage)
