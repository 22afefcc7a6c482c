"""Writing results so that an interrupted run never leaves a half-written file."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_json_atomic"]


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (str as UTF-8, or bytes) to a temporary file next to ``path``, then
    ``os.replace`` it: readers see the old file or the new one, never a part (POSIX rename
    is atomic)."""
    path = Path(path)
    # A unique name opened with "x" (not mkstemp): the file gets the umask's permissions.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if isinstance(text, bytes):
            with open(temporary, "xb") as binary:
                binary.write(text)
        else:
            with open(temporary, "x", encoding="utf-8") as stream:
                stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """``write_atomic`` of ``json.dumps(data, indent=1)`` (non-finite floats are an error)."""
    write_atomic(path, json.dumps(data, indent=1, allow_nan=False) + "\n")
