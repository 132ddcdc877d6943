"""Generated B-roll for a timeline: the timeline's rate and exactly the frames its place
holds (issue 10), through the real media pipeline and draft renders."""

from __future__ import annotations

from pathlib import Path

from tests.media.test_media_pipeline import context, fast_pipeline, run_tasks

from kling_bridge.media.probe import probe
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.specs import ClipRef, ConformTarget, GenerateSpec


async def test_marker_broll_is_25fps_and_cut_to_its_marker(tmp_path: Path) -> None:
    # What selection makes of a 2.4 s "kling:" marker on a 25 fps timeline.
    spec = GenerateSpec(prompt="rain on a tin roof", duration=3, resolution="720p", audio=True,
                        conform=ConformTarget("25", 0, 0, frames=60),
                        placement=ClipRef("marker-1", "B-roll", -1, "", 10, 60, "25"))
    provider = DraftProvider(encoder_preset="ultrafast")
    ctx = context(tmp_path, "generate", spec, provider)
    pipeline = fast_pipeline()
    requests = list(await pipeline.prepare(ctx))
    assert requests[0].duration == 3  # Kling makes whole seconds
    result = await pipeline.finish(ctx, await run_tasks(ctx, requests))
    video = result.video()
    assert video is not None
    assert (video.frames, video.rate) == (60, "25/1")  # not 72 frames at 24
    assert (video.width, video.height) == (1280, 720)  # 0 x 0: Kling's own picture kept
    info = probe(video.path)
    assert info.video is not None and info.video.frame_count == 60
    assert info.audio is not None and info.audio.duration is not None
    assert abs(info.audio.duration - 2.4) < 0.01
    assert result.metadata["conformed_to"]["frames"] == 60
    await provider.aclose()
