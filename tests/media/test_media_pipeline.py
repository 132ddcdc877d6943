"""End to end without the engine: MediaPipeline.prepare -> DraftProvider -> finish, real media.

Drafts render 180 px on the short side (``short_side``) where a test checks the chain --
frames, rate, seams, the conformed size, audio -- not the size Kling would answer at.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from kling_bridge.jobs.media_pipeline import MediaPipeline
from kling_bridge.jobs.pipeline import JobContext, PipelineError
from kling_bridge.media.conform import ConformOptions
from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_tone, read_barcodes
from kling_bridge.providers.base import AudioMode, Operation, TaskPhase, TaskRequest
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.specs import (
    ClipRef,
    ConformTarget,
    GenerateSpec,
    JobSpec,
    LipsyncSpec,
    Look,
    RestyleSpec,
    Shot,
    SourceRange,
)

MakeClip = Callable[..., Path]


def fast_pipeline() -> MediaPipeline:
    return MediaPipeline(preset="ultrafast", crf=28,
                         conform=ConformOptions(preset="ultrafast", crf=28))


def context(tmp: Path, kind: str, spec: JobSpec, provider: DraftProvider,
            job_id: str | None = None) -> JobContext:
    job_id = job_id or uuid.uuid4().hex
    work, out = tmp / "jobs" / job_id, tmp / "outputs"
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    return JobContext(job_id, kind, spec, work, out, provider)


async def run_tasks(ctx: JobContext, requests: Sequence[TaskRequest]) -> list[list[Path]]:
    """What the engine does between prepare and finish, against the draft provider."""
    provider = ctx.provider
    assert isinstance(provider, DraftProvider)
    fetched: list[list[Path]] = []
    for n, req in enumerate(requests):
        provider.validate(req)
        task_id = await provider.submit(req, f"{ctx.job_id}-t{n}-g0")
        while True:
            status = (await provider.poll([task_id]))[task_id]
            if status.done:
                break
            await asyncio.sleep(0.05)
        assert status.phase is TaskPhase.SUCCEEDED, status.message
        dest = ctx.workdir / "fetched" / f"task{n}.mp4"
        dest.parent.mkdir(exist_ok=True)
        fetched.append([await provider.fetch(status.outputs[0], dest)])
    return fetched


def no_temp_names(folder: Path) -> None:
    assert [p.name for p in folder.rglob(".*")] == []


async def test_restyle_end_to_end_with_the_draft_provider(clip: MakeClip, tmp_path: Path) -> None:
    src = clip("A001 interview #2.mov", width=640, height=360, rate="25", frames=70,
               barcode=True, pattern="plain", timecode="10:00:00:00")
    before = src.read_bytes()
    spec = RestyleSpec(SourceRange(str(src), 20, 30, "25", 20, 20), Look("remix-cobalt"),
                       resolution="720p", variant=1,
                       clip=ClipRef("c7", "Interview", 1, "V2", 100, 30, "25"))
    provider = DraftProvider(encoder_preset="ultrafast", short_side=180)
    ctx = context(tmp_path, "restyle", spec, provider)
    pipeline = fast_pipeline()
    requests = list(await pipeline.prepare(ctx))
    assert len(requests) == 1
    (req,) = requests
    assert req.operation is Operation.EDIT and req.preset == "remix-cobalt"
    assert "cobalt blue" in req.prompt and "@video_1" in req.prompt
    assert req.audio_mode is AudioMode.ORIGINAL and req.seed == 1
    assert req.video is not None and req.video.parent == ctx.workdir
    assert req.video_duration is not None and 3.0 < req.video_duration < 15.5

    fetched = await run_tasks(ctx, requests)
    result = await pipeline.finish(ctx, fetched)
    video = result.video()
    assert video is not None
    assert (video.frames, video.rate, video.width, video.height) == (30, "25/1", 640, 360)
    assert video.has_audio and video.draft and result.metadata["draft"] is True
    assert result.metadata["timecode"] == "10:00:00:20"
    assert result.metadata["clip_id"] == "c7"
    info = probe(video.path)
    assert "kling-bridge draft restyle (remix-cobalt)" in info.tags["comment"]
    assert info.timecode == "10:00:00:20"
    # a recolour keeps the barcode readable: the result sits over frames 20..49
    codes = read_barcodes(video.path)
    assert max(abs(c - (20 + k)) for k, c in enumerate(codes)) <= 1
    roles = {o.role: Path(o.path) for o in result.outputs}
    assert set(roles) == {"video", "contact_sheet", "thumbnail"}
    sheet = probe(roles["contact_sheet"])
    assert sheet.video is not None and sheet.video.codec == "png"
    assert sheet.video.height > sheet.video.width / 4  # two rows
    assert all(Path(o.path).parent == ctx.outputs_dir for o in result.outputs)
    assert Path(video.path).name.startswith("Interview.remix-cobalt.v2.")
    no_temp_names(ctx.outputs_dir)
    assert src.read_bytes() == before  # the source is never touched

    # Idempotent: a second prepare reuses the plan and the cut segment...
    mtime = req.video.stat().st_mtime_ns
    again = list(await pipeline.prepare(ctx))
    assert again == requests and req.video.stat().st_mtime_ns == mtime
    # ...and a finish in a fresh process (after a crash) conforms from the stored plan.
    (ctx.workdir / "result.json").unlink()
    os.remove(video.path)
    redo = await fast_pipeline().finish(ctx, fetched)
    assert redo.video() is not None and redo.video().frames == 30  # type: ignore[union-attr]
    assert await fast_pipeline().finish(ctx, fetched) == redo  # cached result
    await provider.aclose()


@pytest.mark.slow
async def test_long_restyle_is_split_sent_and_stitched(clip: MakeClip, tmp_path: Path) -> None:
    # 16 s: just over Kling's 15.5 s, so two segments (what is tested is the seam)
    src = clip("long take.mp4", width=320, height=180, rate="30000/1001", frames=480,
               barcode=True, pattern="plain")
    spec = RestyleSpec(SourceRange(str(src), 0, 480, "30000/1001"), Look("remix-emerald"),
                       resolution="720p")
    provider = DraftProvider(encoder_preset="ultrafast", short_side=180)
    ctx = context(tmp_path, "restyle", spec, provider)
    pipeline = fast_pipeline()
    requests = list(await pipeline.prepare(ctx))
    assert len(requests) == 2
    result = await pipeline.finish(ctx, await run_tasks(ctx, requests))
    video = result.video()
    assert video is not None and video.frames == 480 and video.rate == "30000/1001"
    codes = read_barcodes(video.path)
    assert codes == sorted(codes) and max(abs(c - k) for k, c in enumerate(codes)) <= 1
    await provider.aclose()


async def test_text_to_video_conformed_to_the_timeline(tmp_path: Path) -> None:
    spec = GenerateSpec(prompt="drone shot over a misty pine forest at dawn", duration=3,
                        aspect_ratio="16:9", resolution="720p", audio=True,
                        conform=ConformTarget("25", 640, 360))
    provider = DraftProvider(encoder_preset="ultrafast", short_side=180)
    ctx = context(tmp_path, "generate", spec, provider)
    pipeline = fast_pipeline()
    (req,) = await pipeline.prepare(ctx)
    assert req.operation is Operation.TEXT_TO_VIDEO and req.audio_mode is AudioMode.NATIVE
    assert req.duration == 3 and req.aspect_ratio == "16:9"
    result = await pipeline.finish(ctx, await run_tasks(ctx, [req]))
    video = result.video()
    assert video is not None
    assert (video.frames, video.rate, video.width, video.height) == (75, "25/1", 640, 360)
    assert video.has_audio and video.draft
    info = probe(video.path)
    assert info.audio is not None and info.audio.duration == pytest.approx(3.0, abs=0.001)
    poster = next(o for o in result.outputs if o.role == "poster")
    assert probe(poster.path).is_still
    assert result.metadata["conformed_to"] == {"rate": "25", "width": 640, "height": 360}
    await provider.aclose()


async def test_multi_shot_from_a_timeline_frame(clip: MakeClip, tmp_path: Path) -> None:
    src = clip("ref clip.mp4", width=640, height=360, rate="25", frames=20)
    spec = GenerateSpec(image=str(src), shots=(Shot("push in", 2), Shot("pan left", 2)),
                        duration=4, resolution="720p")
    provider = DraftProvider(encoder_preset="ultrafast", short_side=180)
    ctx = context(tmp_path, "generate", spec, provider)
    pipeline = fast_pipeline()
    (req,) = await pipeline.prepare(ctx)
    assert req.operation is Operation.IMAGE_TO_VIDEO and req.image is not None
    assert req.image.suffix == ".png" and req.image.parent == ctx.workdir
    assert req.aspect_ratio is None and len(req.shots) == 2 and req.duration == 4
    result = await pipeline.finish(ctx, await run_tasks(ctx, [req]))
    video = result.video()
    assert video is not None and (video.frames, video.rate) == (96, "24/1")  # as delivered
    assert Path(video.path).suffix == ".mp4"
    await provider.aclose()


async def test_lipsync_from_a_still(clip: MakeClip, tmp_path: Path) -> None:
    dialogue = make_tone(tmp_path / "line 12.wav", 6.0)
    face = clip("face.mp4", width=640, height=360, rate="25", frames=10)
    provider = DraftProvider(encoder_preset="ultrafast", short_side=180)
    pipeline = fast_pipeline()
    spec = LipsyncSpec(audio=str(dialogue), audio_start=1.5, audio_end=4.0, image=str(face),
                       resolution="720p", conform=ConformTarget("30000/1001", 640, 360))
    ctx = context(tmp_path, "lipsync", spec, provider)
    (req,) = await pipeline.prepare(ctx)
    assert req.operation is Operation.LIPSYNC and req.audio_range == (1.5, 4.0)
    result = await pipeline.finish(ctx, await run_tasks(ctx, [req]))
    video = result.video()
    assert video is not None and video.rate == "30000/1001" and video.frames == 75
    assert video.has_audio
    await provider.aclose()


# --- bad input: clear errors, nothing written ----------------------------------------------


def _bad_sources(tmp: Path, good: Path) -> list[tuple[Path, int, str]]:
    empty = tmp / "empty.mov"
    empty.write_bytes(b"")
    trunc = tmp / "truncated.mp4"
    trunc.write_bytes(good.read_bytes()[:20000])
    text = tmp / "notes.mp4"
    text.write_text("hello\n" * 100)
    audio = make_tone(tmp / "music.m4a", 2.0)
    return [
        (tmp / "missing.mov", 0, "media_missing"),
        (empty, 0, "media_empty"),
        (trunc, 0, "media_corrupt"),
        (text, 0, "media_corrupt"),
        (audio, 0, "not_a_video"),
        (good, 40, "range_outside_media"),
    ]


async def test_bad_sources_are_refused_clearly(clip: MakeClip, tmp_path: Path) -> None:
    good = clip("good.mp4", width=320, height=180, rate="25", frames=50)
    provider = DraftProvider(encoder_preset="ultrafast")
    for path, start, code in _bad_sources(tmp_path, good):
        spec = RestyleSpec(SourceRange(str(path), start, 25, "25"), Look("fog"))
        ctx = context(tmp_path / "runs", "restyle", spec, provider)
        with pytest.raises(PipelineError) as caught:
            await fast_pipeline().prepare(ctx)
        err = caught.value
        assert err.code == code, (path, err.message)
        assert str(path) in err.message and err.hint
        assert list(ctx.workdir.iterdir()) == [] and list(ctx.outputs_dir.iterdir()) == []


async def test_unknown_preset_and_missing_look(clip: MakeClip, tmp_path: Path) -> None:
    good = clip("good.mp4", width=320, height=180, rate="25", frames=50)
    provider = DraftProvider(encoder_preset="ultrafast")
    for look, code in [(Look("vaporwave"), "bad_preset"), (Look(), "bad_request")]:
        ctx = context(tmp_path, "restyle",
                      RestyleSpec(SourceRange(str(good), 0, 25, "25"), look), provider)
        with pytest.raises(PipelineError) as caught:
            await fast_pipeline().prepare(ctx)
        assert caught.value.code == code and caught.value.hint


async def test_finish_without_a_plan_or_answers_says_so(clip: MakeClip, tmp_path: Path) -> None:
    good = clip("good.mp4", width=320, height=180, rate="25", frames=50)
    spec = RestyleSpec(SourceRange(str(good), 0, 25, "25"), Look("fog"))
    ctx = context(tmp_path, "restyle", spec, DraftProvider(encoder_preset="ultrafast"))
    with pytest.raises(PipelineError, match="fit plan"):
        await fast_pipeline().finish(ctx, [[good]])
    await fast_pipeline().prepare(ctx)
    with pytest.raises(PipelineError) as caught:
        await fast_pipeline().finish(ctx, [])
    assert caught.value.code == "missing_output"
    broken = tmp_path / "answer.mp4"
    broken.write_bytes(b"\x00" * 1000)
    with pytest.raises(PipelineError) as caught:
        await fast_pipeline().finish(ctx, [[broken]])
    assert caught.value.code == "bad_output"
    assert list(ctx.outputs_dir.iterdir()) == []
    shutil.rmtree(ctx.workdir)
