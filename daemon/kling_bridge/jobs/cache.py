"""Result-cache keys: identical requests (same input frames, same settings, same model) are
served from the outputs already on disk, for zero credits.

The key hashes the *content* of every input file, not its path, so re-exporting the same
clip under another name still hits, and changing one frame misses.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..providers.base import TaskRequest

_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _digest_or_path(path: Path) -> dict[str, str]:
    return {"sha256": file_digest(path)} if path.exists() else {"missing": str(path)}


def request_key(provider: str, request: TaskRequest) -> str:
    """Blocking (reads the inputs): call it from a worker thread."""
    parts: dict[str, Any] = {"provider": provider}
    for f in fields(request):
        value = getattr(request, f.name)
        if isinstance(value, Path):
            value = {"sha256": file_digest(value)} if value.exists() else {"missing": str(value)}
        elif isinstance(value, tuple):
            value = [_digest_or_path(v) if isinstance(v, Path) else getattr(v, "__dict__", v)
                     for v in value]
        parts[f.name] = value
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()
