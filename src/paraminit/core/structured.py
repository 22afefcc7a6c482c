"""Structured inits (orthogonal, identity, dirac, sparse) as NumPy arrays from a stream.

Element-wise laws are sampled in :mod:`paraminit.numpy`; these need the whole tensor
(a QR factorisation, a mask per unit), so they are computed whole, in float64, and the
caller casts once.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import InitSpec
from .stream import Stream

__all__ = ["structured_values"]


def _as_matrix_shape(shape: tuple[int, ...], out_axis: int) -> tuple[int, int]:
    rows = shape[out_axis]
    return rows, (math.prod(shape) // rows if rows else 0)


def _from_matrix(matrix: np.ndarray, shape: tuple[int, ...], out_axis: int) -> np.ndarray:
    moved = [shape[out_axis], *(d for i, d in enumerate(shape) if i != out_axis)]
    return np.moveaxis(matrix.reshape(moved), 0, out_axis)


def orthogonal(spec: InitSpec, stream: Stream) -> np.ndarray:
    """gain·Q with Q Haar-distributed: QR of a Gaussian matrix, columns times sign(diag R).

    Without the sign fix, numpy's QR (Householder, LAPACK) returns a Q whose law is not
    Haar (Mezzadri 2007, §5). The Gaussian is drawn as the (rows, cols) matrix of the
    out-axis against the rest, transposed when rows < cols so QR sees a tall matrix
    (as torch.nn.init.orthogonal_). ``method="svd"`` takes U·Vᵀ of the SVD instead
    (Saxe et al. 2014 use the SVD of a Gaussian matrix).
    """
    params = spec.params
    rows, cols = _as_matrix_shape(spec.shape, params["out_axis"])
    gaussian = stream.normal(0, rows * cols).reshape(rows, cols)
    tall = gaussian.T if rows < cols else gaussian
    if params["method"] == "svd":
        u, _, vt = np.linalg.svd(tall, full_matrices=False)
        q = u @ vt
    else:
        q, r = np.linalg.qr(tall)
        signs = np.sign(np.diag(r))
        signs[signs == 0] = 1.0
        q = q * signs
    if rows < cols:
        q = q.T
    return _from_matrix(params["gain"] * q, spec.shape, params["out_axis"])


def identity(spec: InitSpec, stream: Stream) -> np.ndarray:
    del stream  # deterministic
    return spec.params["gain"] * np.eye(*spec.shape, dtype=np.float64)


def dirac(spec: InitSpec, stream: Stream) -> np.ndarray:
    """1 at the kernel centre k//2 from input channel d to output g·out_per_group + d."""
    del stream
    shape, params = spec.shape, spec.params
    out_axis, in_axis = params["out_axis"], params["in_axis"]
    values = np.zeros(shape, dtype=np.float64)
    # Work on a (out, in, *k) view whatever the layout.
    view = np.moveaxis(values, (out_axis, in_axis), (0, 1))
    per_group = shape[out_axis] // params["groups"]
    centre = tuple(k // 2 for k in view.shape[2:])
    for g in range(params["groups"]):
        for d in range(min(per_group, view.shape[1])):
            view[(g * per_group + d, d, *centre)] = 1.0
    return values


def sparse(spec: InitSpec, stream: Stream) -> np.ndarray:
    """Exactly k non-zeros per unit: the k smallest of per-element uniform keys survive.

    Values come from ``stream`` (element index); the mask from the sub-stream
    ``purpose="mask"``, so mask and values are independent.
    """
    params = spec.params
    out_axis = params["out_axis"]
    numel = math.prod(spec.shape)
    values = params["value_std"] * stream.normal(0, numel).reshape(spec.shape)
    keys = stream.substream("mask").uniform(0, numel).reshape(spec.shape)
    by_unit = np.moveaxis(keys, out_axis, 0)
    order = np.argsort(by_unit, axis=1, kind="stable")
    keep = np.zeros(by_unit.shape, dtype=bool)
    np.put_along_axis(keep, order[:, : params["nonzeros"]], True, axis=1)
    return np.where(np.moveaxis(keep, 0, out_axis), values, 0.0)


_SAMPLERS = {"orthogonal": orthogonal, "identity": identity, "dirac": dirac, "sparse": sparse}


def structured_values(spec: InitSpec, stream: Stream) -> np.ndarray:
    """Float64 values of a structured spec (``spec.distribution`` in the four above)."""
    return _SAMPLERS[spec.distribution](spec, stream)
