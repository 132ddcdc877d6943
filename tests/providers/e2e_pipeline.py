"""A minimal real-media pipeline for the Kling end-to-end tests.

Stands in for ``kling_bridge.jobs.media_pipeline`` (being written beside this work) so the
engine -> KlingProvider -> emulator path runs on real files now: ``prepare`` turns a spec
into one provider request (the test clips are already within Kling's limits), ``finish``
conforms a restyle's 24 fps result back to its source's exact frame count, rate and
geometry with ffmpeg, and checks it by counting decoded frames.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from kling_bridge.jobs.pipeline import JobContext, PipelineError
from kling_bridge.providers.base import AudioMode, Operation, Resolution, TaskRequest
from kling_bridge.specs import (
    GenerateSpec,
    JobResult,
    LipsyncSpec,
    OutputFile,
    RestyleSpec,
    rate_str,
)


async def _run(*args: str) -> bytes:
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise PipelineError(f"{args[0]} failed: {err.decode()[-300:]}")
    return out


async def count_frames(path: Path) -> tuple[int, str, int, int]:
    out = await _run("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                     "-show_entries", "stream=nb_read_frames,r_frame_rate,width,height",
                     "-of", "json", str(path))
    s = json.loads(out)["streams"][0]
    return int(s["nb_read_frames"]), s["r_frame_rate"], int(s["width"]), int(s["height"])


class KlingE2EPipeline:
    async def prepare(self, ctx: JobContext) -> Sequence[TaskRequest]:
        spec = ctx.spec
        if isinstance(spec, RestyleSpec):
            return [TaskRequest(
                Operation.EDIT, spec.model, prompt=spec.look.prompt or spec.look.label,
                video=Path(spec.source.path), video_duration=spec.source.seconds,
                resolution=Resolution(spec.resolution),
                audio_mode=AudioMode.ORIGINAL if spec.keep_audio else AudioMode.OFF,
                reference_image=Path(spec.reference_image) if spec.reference_image else None)]
        if isinstance(spec, GenerateSpec):
            return [TaskRequest(
                Operation.IMAGE_TO_VIDEO if spec.image else Operation.TEXT_TO_VIDEO,
                spec.model, prompt=spec.prompt, negative_prompt=spec.negative_prompt,
                image=Path(spec.image) if spec.image else None, shots=spec.shots,
                duration=None if spec.shots else spec.duration,
                aspect_ratio=None if spec.image else spec.aspect_ratio,
                resolution=Resolution(spec.resolution),
                audio_mode=AudioMode.NATIVE if spec.audio else AudioMode.OFF)]
        assert isinstance(spec, LipsyncSpec)
        return [TaskRequest(
            Operation.LIPSYNC, "kling-3.0", video=Path(spec.video) if spec.video else None,
            image=Path(spec.image) if spec.image else None, audio=Path(spec.audio),
            audio_range=(spec.audio_start, spec.audio_end or spec.audio_start + 3.0))]

    async def finish(self, ctx: JobContext, fetched: Sequence[Sequence[Path]]) -> JobResult:
        spec = ctx.spec
        result = fetched[0][0]
        dest = ctx.outputs_dir / f"{ctx.job_id}.mp4"
        tmp = dest.with_name(f".{dest.name}.tmp.mp4")
        if isinstance(spec, RestyleSpec):
            src = spec.source
            _frames, _, width, height = await count_frames(Path(src.path))
            await _run(
                "ffmpeg", "-y", "-v", "error", "-i", str(result), "-ss",
                f"{float(src.start_frame / src.fps):.6f}", "-i", src.path, "-map", "0:v:0",
                "-map", "1:a:0?", "-vf", f"fps={rate_str(src.fps)},scale={width}:{height}",
                "-frames:v", str(src.frame_count), "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(tmp))
            got, rate, w, h = await count_frames(tmp)
            if (got, rate, w, h) != (src.frame_count, rate_str(src.fps), width, height):
                raise PipelineError(f"conform missed: {got} frames at {rate} {w}x{h}")
            tmp.replace(dest)
            return JobResult((OutputFile(str(dest), "video", got, rate, w, h, True),))
        shutil.copyfile(result, tmp)
        tmp.replace(dest)
        got, rate, w, h = await count_frames(dest)
        return JobResult((OutputFile(str(dest), "video", got, rate, w, h),))
