"""The hosting port: make a local file reachable by URL for as long as a job needs it.

Kling has no upload endpoint; it fetches every input video by URL. A host publishes a file
for a job (``job_id`` is the task's idempotency key) and releases everything of that job
when the job ends, so nothing stays reachable longer than needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable


class HostingError(Exception):
    """A file could not be published; ``hint`` says what to fix (bucket, tunnel, ...)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@runtime_checkable
class MediaHost(Protocol):
    name: str

    async def start(self) -> None:
        """Open what the host needs (a listener); idempotent."""

    async def publish(self, path: Path, job_id: str) -> str:
        """A URL that serves ``path`` (GET, Range) until it expires or ``release``."""

    async def release(self, job_id: str) -> None:
        """Make every file of ``job_id`` unreachable; idempotent."""

    async def aclose(self) -> None:
        """Stop listeners and release clients (published files of live jobs stay)."""
