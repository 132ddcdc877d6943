"""Every timeline format an editor can drop, through the watch folder, rendered for real.

``test_timelines.py`` takes a real Premiere export through; here the other formats the folder
promises (OTIO from Resolve or Kdenlive, a modern FCPXML with its media in ``<media-rep>``, an
Avid-style EDL) each come back in their own format with the restyled clip exactly over its
source, the render holding the frames the cut uses, and the dropped file kept byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import opentimelineio as otio
import pytest

from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_clip
from kling_bridge.timeline import read_timeline
from kling_bridge.timeline.paths import path_from_url, url_from_path
from kling_bridge.timeline.results import new_clips
from kling_bridge.watch.layout import SETTINGS_FILE

from .conftest import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

RATE = 30
#: The cut: one second of nothing, then frames 26..85 of the shot (60 frames) at 01:00:00:00.
GAP, IN, LENGTH = 30, 26, 60


def _otio(media: Path) -> str:
    rt = lambda frames: otio.opentime.RationalTime(frames, RATE)  # noqa: E731
    timeline = otio.schema.Timeline(name="cut", global_start_time=rt(3600 * RATE))
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(rt(0), rt(GAP))))
    track.append(otio.schema.Clip(
        name="shot", source_range=otio.opentime.TimeRange(rt(IN), rt(LENGTH)),
        media_reference=otio.schema.ExternalReference(
            target_url=url_from_path(str(media)),
            available_range=otio.opentime.TimeRange(rt(0), rt(100)))))
    timeline.tracks.append(track)
    return str(otio.adapters.write_to_string(timeline, "otio_json"))


def _fcpxml(media: Path) -> str:
    """What Final Cut 10.6+ writes: version 1.11, the path in the asset's ``<media-rep>``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.11">
  <resources>
    <format id="r1" name="FFVideoFormat1080p30" frameDuration="1/30s" width="1920" height="1080"/>
    <asset id="r2" name="shot" uid="0F1E2D3C" start="0s" duration="100/30s" hasVideo="1"
           format="r1" videoSources="1">
      <media-rep kind="original-media" src="{url_from_path(str(media))}"/>
    </asset>
  </resources>
  <library>
    <event name="Day 1">
      <project name="cut">
        <sequence format="r1" duration="{GAP + LENGTH}/30s" tcStart="3600s" tcFormat="NDF">
          <spine>
            <gap name="Gap" offset="3600s" start="3600s" duration="{GAP}/30s"/>
            <asset-clip ref="r2" offset="{3600 * RATE + GAP}/30s" name="shot"
                        start="{IN}/30s" duration="{LENGTH}/30s" format="r1" tcFormat="NDF"/>
          </spine>
        </sequence>
      </project>
    </event>
  </library>
</fcpxml>
"""


def _edl(media: Path) -> str:
    """Avid's shape: the file named in ``* FROM CLIP:``; frame 26 tells the reader it is 30p."""
    return ("TITLE: cut\nFCM: NON-DROP FRAME\n\n"
            "001  AX       V     C        00:00:00:26 00:00:02:26 01:00:01:00 01:00:03:00\n"
            "* FROM CLIP NAME:  shot.mov\n"
            f"* FROM CLIP: {media}\n")


FORMATS = {".otio": _otio, ".fcpxml": _fcpxml, ".edl": _edl}


def _record(clip: otio.core.Item, timeline: otio.schema.Timeline) -> tuple[int, int]:
    """Where a clip sits in the cut, in frames from midnight (the timeline's start added)."""
    rng = clip.range_in_parent()
    start = timeline.global_start_time
    zero = round(start.to_frames(RATE)) if start is not None else 0
    return zero + round(rng.start_time.to_frames(RATE)), round(rng.duration.to_frames(RATE))


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The editor's shot (100 frames at 30 fps), made once: every format's cut uses it, and
    nothing writes to it (results go to each test's own folder)."""
    return make_clip(tmp_path_factory.mktemp("formats-media") / "shot.mov", rate=str(RATE),
                     frames=100, width=160, height=90)


@pytest.mark.parametrize("suffix", list(FORMATS))
async def test_each_format_comes_back_in_its_own_format_over_its_source(
        make_env, tmp_path: Path, suffix: str, shot: Path) -> None:
    media = shot
    text = FORMATS[suffix](media)
    env = await make_env(provider="draft", concurrency=1)
    w = await env.start_watch(stable_seconds=0.3)
    noir = env.root / "restyle" / "film-noir"
    (noir / SETTINGS_FILE).write_text('select = "all"\nresolution = "720p"\n')
    dropped = tmp_path / f"cut{suffix}"
    dropped.write_text(text)
    shutil.copy(dropped, noir / dropped.name)

    await eventually(lambda: w.stats.done + w.stats.failed >= 1, 240, "the timeline")
    assert w.stats.failed == 0, (env.files("failed"), env.events)
    timelines = [n for n in env.files("out") if "/" not in n]
    assert len(timelines) == 1 and timelines[0].endswith(suffix), env.files("out")
    result_path = env.root / "out" / timelines[0]
    result = read_timeline(result_path)
    original = read_timeline(dropped).timeline
    (new,) = new_clips(result.timeline)
    (source,) = [c for c in original.find_clips() if c.name.startswith("shot")]
    assert _record(new, result.timeline) == _record(source, original) == (
        3600 * RATE + GAP, LENGTH)
    video = Path(path_from_url(new.media_reference.target_url) or "")
    assert video.is_file() and video.parent.parent == env.root / "out"
    info = probe(video)
    assert info.video is not None and info.video.frame_count == LENGTH
    if suffix != ".edl":  # an EDL comes back as the new track alone, by design
        kept = sorted(c.name for c in result.timeline.find_clips() if c is not new)
        assert kept == ["shot"]
    assert (env.root / "processed/restyle/film-noir" / dropped.name).read_text() == text
