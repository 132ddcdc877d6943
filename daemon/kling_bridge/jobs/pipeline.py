"""The pipeline port: the free (local) work around a job's paid task(s).

The engine owns state, durability and the provider conversation; a pipeline owns the
media: ``prepare`` turns a job's spec into provider requests (fitting a clip into the
provider's limits, splitting it into segments), ``finish`` turns the fetched outputs into the
job's result (stitch, conform back to the source's frames, pictures). Both are free and may
be re-run after a crash, so they must be idempotent and write only under ``workdir`` or
to temp names renamed into ``outputs_dir``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..providers.base import Provider, TaskRequest
from ..specs import JobResult, JobSpec


@dataclass(frozen=True)
class JobContext:
    job_id: str
    kind: str  # "restyle" | "generate" | "lipsync"
    spec: JobSpec
    workdir: Path  # private to the job; exists; kept until the job is purged
    outputs_dir: Path  # where the job's deliverables go (exists)
    provider: Provider


class PipelineError(Exception):
    """Bad input found while preparing or finishing; never retried.

    ``message`` names the file and the problem, ``hint`` says what to do.
    """

    def __init__(self, message: str, hint: str = "", code: str = "bad_media") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class Pipeline(Protocol):
    async def prepare(self, ctx: JobContext) -> Sequence[TaskRequest]:
        """One request per provider task (segments of a long clip are several)."""

    async def finish(
        self, ctx: JobContext, fetched: Sequence[Sequence[Path]]
    ) -> JobResult:
        """``fetched[i]`` holds the downloaded outputs of request ``i``, in order."""
