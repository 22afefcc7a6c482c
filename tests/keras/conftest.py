"""Keras tests run in-process on the jax backend (TensorFlow is not a dependency)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import pytest

pytest.importorskip("keras")
