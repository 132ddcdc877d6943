"""Looks compared on one clip: the clip is fitted once, and every look's result is still
frame exact. A fit is kept by its plan and its source as it is on disk: another range, or
the file changed in place, is fitted again; kept fits go a day after they were last taken.
A long clip's scene cuts (a decode of the whole range) are found once too."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tests.media.test_media_pipeline import MakeClip, context, fast_pipeline, run_tasks

from kling_bridge.jobs import media_pipeline
from kling_bridge.media.extract import adetect_scene_cuts
from kling_bridge.media.fit_cache import KEEP_SECONDS
from kling_bridge.media.synth import read_barcodes
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.specs import Look, RestyleSpec, SourceRange


def _spec(src: Path, look: str, start: int = 20) -> RestyleSpec:
    return RestyleSpec(SourceRange(str(src), start, 30, "25", 10, 10), Look(look),
                       resolution="720p")


async def test_three_looks_of_one_clip_share_one_fit_and_stay_frame_exact(
        clip: MakeClip, tmp_path: Path) -> None:
    src = clip("A001 compare.mov", width=320, height=180, rate="25", frames=70, barcode=True,
               pattern="plain")
    provider = DraftProvider(encoder_preset="ultrafast", short_side=180)
    pipeline = fast_pipeline()
    segments = []
    for look in ("remix-cobalt", "remix-emerald", "remix-crimson"):
        ctx = context(tmp_path, "restyle", _spec(src, look), provider)
        (request,) = await pipeline.prepare(ctx)
        assert request.video is not None and request.video.parent == ctx.workdir
        segments.append(request.video.stat())
        result = await pipeline.finish(ctx, await run_tasks(ctx, [request]))
        video = result.video()
        assert video is not None and video.frames == 30
        codes = read_barcodes(video.path)  # each look over source frames 20..49
        assert max(abs(c - (20 + k)) for k, c in enumerate(codes)) <= 1
    # one cut: the second and third jobs' segments are the first job's file
    assert len({(s.st_dev, s.st_ino) for s in segments}) == 1
    await provider.aclose()


async def test_another_range_or_a_changed_file_is_fitted_again(clip: MakeClip,
                                                               tmp_path: Path) -> None:
    made = clip("A002 compare.mov", width=320, height=180, rate="25", frames=70,
                pattern="plain")
    src = tmp_path / "A002.mov"
    src.write_bytes(made.read_bytes())
    provider = DraftProvider(encoder_preset="ultrafast", short_side=180)
    pipeline = fast_pipeline()

    async def segment(spec: RestyleSpec) -> os.stat_result:
        (request,) = await pipeline.prepare(context(tmp_path, "restyle", spec, provider))
        assert request.video is not None
        return request.video.stat()

    first = await segment(_spec(src, "remix-cobalt"))
    assert (await segment(_spec(src, "remix-emerald"))).st_ino == first.st_ino
    assert (await segment(_spec(src, "remix-emerald", start=10))).st_ino != first.st_ino
    src.write_bytes(made.read_bytes())  # re-exported over itself: new modification time
    changed = await segment(_spec(src, "remix-crimson"))
    assert changed.st_ino != first.st_ino


async def test_a_fit_not_taken_for_a_day_goes(clip: MakeClip, tmp_path: Path) -> None:
    src = clip("A003 compare.mov", width=320, height=180, rate="25", frames=70,
               pattern="plain")
    provider = DraftProvider(encoder_preset="ultrafast", short_side=180)
    pipeline = fast_pipeline()
    await pipeline.prepare(context(tmp_path, "restyle", _spec(src, "remix-cobalt"), provider))
    (old,) = list(pipeline.fits.root.iterdir())
    a_day_ago = time.time() - KEEP_SECONDS - 60
    os.utime(old, (a_day_ago, a_day_ago))
    ctx = context(tmp_path, "restyle", _spec(src, "remix-cobalt", start=5), provider)
    await pipeline.prepare(ctx)  # keeping this new fit sweeps the old one
    (kept,) = list(pipeline.fits.root.iterdir())
    assert kept != old and not old.exists()


async def test_a_long_clips_scene_cuts_are_found_once_for_every_look(
        clip: MakeClip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 16 s: just over Kling's 15.5 s, so two segments, split where the shots change
    src = clip("long take.mp4", width=320, height=180, rate="30000/1001", frames=480,
               barcode=True, pattern="plain")
    decodes: list[int] = []

    async def counted(*args: object, **kwargs: object) -> tuple[int, ...]:
        decodes.append(1)
        return await adetect_scene_cuts(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(media_pipeline, "adetect_scene_cuts", counted)
    provider = DraftProvider(encoder_preset="ultrafast", short_side=180)
    pipeline = fast_pipeline()
    found = []
    for look in ("remix-cobalt", "remix-emerald"):
        spec = RestyleSpec(SourceRange(str(src), 0, 480, "30000/1001"), Look(look),
                           resolution="720p")
        ctx = context(tmp_path, "restyle", spec, provider)
        requests = list(await pipeline.prepare(ctx))
        assert len(requests) == 2
        found.append((len(decodes), [r.video.stat().st_ino for r in requests if r.video]))
        if look == "remix-emerald":  # the second look is still stitched frame exact
            result = await pipeline.finish(ctx, await run_tasks(ctx, requests))
            video = result.video()
            assert video is not None and video.frames == 480
            codes = read_barcodes(video.path)
            assert codes == sorted(codes) and max(abs(c - k) for k, c in enumerate(codes)) <= 1
    (first_decodes, first_segments), (decodes_after, second_segments) = found
    assert first_decodes >= 1 and decodes_after == first_decodes  # none for the second look
    assert second_segments == first_segments
    await provider.aclose()
