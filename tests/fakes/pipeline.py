"""A pipeline with no media: one provider task per predicted segment, outputs passed through.

For engine, API and crash tests, where what matters is the job's life and not ffmpeg (the
real media pipeline has its own tests on real media).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kling_bridge.jobs.costs import predicted_requests
from kling_bridge.jobs.pipeline import JobContext, PipelineError
from kling_bridge.providers.base import TaskRequest
from kling_bridge.specs import GenerateSpec, JobResult, OutputFile, RestyleSpec


class PassthroughPipeline:
    def __init__(self) -> None:
        self.prepared: dict[str, int] = {}
        self.finished: dict[str, int] = {}

    async def prepare(self, ctx: JobContext) -> Sequence[TaskRequest]:
        self.prepared[ctx.job_id] = self.prepared.get(ctx.job_id, 0) + 1
        if isinstance(ctx.spec, GenerateSpec) and ctx.spec.prompt.startswith("BADMEDIA"):
            raise PipelineError(f"{ctx.spec.prompt}: not a video", "pick another file")
        requests = predicted_requests(ctx.spec, ctx.provider.limits)
        return requests

    async def finish(self, ctx: JobContext, fetched: Sequence[Sequence[Path]]) -> JobResult:
        self.finished[ctx.job_id] = self.finished.get(ctx.job_id, 0) + 1
        outputs = []
        frames, rate = _length(ctx.spec)
        for files in fetched:
            for f in files:
                dest = ctx.outputs_dir / f"{ctx.job_id}-{f.name}"
                dest.write_bytes(f.read_bytes())
                # the length a real result would have (a chain's next link reads it)
                outputs.append(OutputFile(path=str(dest), role="video", frames=frames,
                                          rate=rate))
        meta: dict[str, object] = {"segments": len(fetched)}
        if isinstance(ctx.spec, RestyleSpec):
            meta["look_words"] = ctx.spec.look.prompt or ctx.spec.look.label
        return JobResult(outputs=tuple(outputs), metadata=meta)


def _length(spec: object) -> tuple[int | None, str | None]:
    if isinstance(spec, RestyleSpec):
        return spec.source.frame_count, spec.source.rate
    if isinstance(spec, GenerateSpec):
        seconds = sum(s.duration for s in spec.shots) if spec.shots else spec.duration
        return seconds * 24, "24"
    return None, None
