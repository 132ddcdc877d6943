"""Timelines through the watch folder, rendered for real: the draft provider and the media
pipeline (ffmpeg) restyle the clips; the result timeline comes back in the dropped format.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from urllib.parse import quote

import opentimelineio as otio
import pytest

from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_clip
from kling_bridge.timeline import read_timeline
from kling_bridge.timeline.paths import path_from_url
from kling_bridge.timeline.results import new_clips
from kling_bridge.watch.layout import SETTINGS_FILE

from .conftest import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def record(clip: otio.core.Item) -> tuple[int, int]:
    rng = clip.range_in_parent()
    return round(rng.start_time.to_frames(30)), round(rng.duration.to_frames(30))


async def test_premiere_xml_comes_back_as_xml_with_restyled_clips_over_their_sources(
        make_env, tmp_path: Path) -> None:
    # The editor's Premiere export, its media where the XML says (here: a folder of ours).
    media = tmp_path / "media"
    await asyncio.to_thread(make_clip, media / "sc01_sh010_anim.mov", rate="30", frames=100,
                            width=320, height=180)
    url = "file://localhost" + quote(str(media))
    text = (SAMPLES / "premiere_example.xml").read_text()
    text = text.replace("file://localhost/D%3a/media", url)
    env = await make_env(provider="draft", concurrency=2)
    w = await env.start_watch(stable_seconds=0.3)
    noir = env.root / "restyle" / "film-noir"
    (noir / SETTINGS_FILE).write_text('select = "track:V1"\nresolution = "720p"\n')
    dropped = tmp_path / "sc01_sh010_layerA.xml"
    dropped.write_text(text)
    shutil.copy(dropped, noir / dropped.name)

    await eventually(lambda: w.stats.done + w.stats.failed >= 1, 240, "the timeline")
    assert w.stats.failed == 0, (env.files("failed"), env.events)
    assert sorted(env.files("out")) == [
        "sc01_sh010_layerA.kling-media/sc01_sh010_anim.film-noir.mov",
        "sc01_sh010_layerA.kling.xml"]
    result_path = env.root / "out" / "sc01_sh010_layerA.kling.xml"
    assert result_path.read_text().lstrip().startswith("<?xml")
    assert "<xmeml" in result_path.read_text()
    result = read_timeline(result_path)
    assert result.format == "fcp_xml"
    original = read_timeline(dropped).timeline
    (new,) = new_clips(result.timeline)
    source = next(iter(original.video_tracks()[0].find_clips()))
    assert record(new) == record(source) == (536, 100)  # over its source, to the frame
    video = Path(path_from_url(new.media_reference.target_url) or "")
    assert video == env.root / "out/sc01_sh010_layerA.kling-media/sc01_sh010_anim.film-noir.mov"
    info = probe(video)
    assert info.video is not None and info.video.frame_count == 100
    # The editor's cut is all still there, untouched; the source is kept byte for byte.
    originals = sorted(c.name for c in original.find_clips())
    kept = sorted(c.name for c in result.timeline.find_clips() if c is not new)
    assert kept == originals
    assert (env.root / "processed/restyle/film-noir" / dropped.name).read_text() == text
