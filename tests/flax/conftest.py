"""The Flax adapter's tests need flax (and jax); without them they are skipped."""

from __future__ import annotations

import pytest

pytest.importorskip("flax")
