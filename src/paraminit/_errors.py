"""The one exception type users need to catch."""

from __future__ import annotations

__all__ = ["InitError"]


class InitError(ValueError):
    """Bad input to an initializer: the message names the argument, the value and a fix.

    A subclass of :class:`ValueError`, so code written against ``torch.nn.init``
    (which raises ``ValueError``) keeps working.
    """
