"""Restyled clips never overwrite each other (issue 10, part 1).

Every job of a batch used to get the same file-name suffix (the first 8 characters of its
id: a timestamp shared by the batch), so clips sharing a name rendered into one file and
every new clip of the result timeline pointed at the last render. Here, through a real
daemon (in this process, draft provider, real ffmpeg) and the editors' own formats:

* a Premiere XML timeline with two clips both called ``source.mp4`` (two cameras' folders);
* an FCPXML timeline with ten clips of one asset;
* the same clip selected twice at different ranges;

each result file is its own, holds the frames of its own source range (barcodes decoded
frame by frame), and the result timeline's new clips point at those files.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from kling_bridge.client import BridgeClient
from kling_bridge.config import Paths, load_settings
from kling_bridge.inprocess import InProcessDaemon
from kling_bridge.media.conform import ConformOptions
from kling_bridge.media.synth import make_clip, read_barcodes
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.specs import InputLimits
from kling_bridge.timeline import new_clips, read_timeline, write_timeline
from kling_bridge.timeline.paths import path_from_url

RATE = 25




@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two different files both named source.mp4: camera B's barcodes start at 500."""
    d = tmp_path_factory.mktemp("names-media")
    common: dict[str, Any] = {"width": 192, "height": 108, "rate": str(RATE), "barcode": True,
                              "pattern": "plain", "crf": 30}
    cam_a = make_clip(d / "camera A" / "source.mp4", frames=200, **common)
    long_b = make_clip(d / "long b.mp4", frames=700, **common)
    cam_b = d / "camera B" / "source.mp4"
    cam_b.parent.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(long_b), "-vf",
                    "trim=start_frame=500:end_frame=700,setpts=PTS-STARTPTS", "-af",
                    "atrim=start=20:end=28,asetpts=PTS-STARTPTS", "-c:v", "libx264",
                    "-preset", "ultrafast", "-crf", "30", "-pix_fmt", "yuv420p", str(cam_b)],
                   check=True)
    return {"a": cam_a, "b": cam_b}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[BridgeClient]:
    from tests.providers.kling_engine import fast_pipeline

    paths = Paths.resolve().ensure()
    settings = load_settings(overrides={"provider": "draft"})
    # Small fitting limits and drafts 180 pixels high keep ten renders quick; naming does
    # not depend on them.
    draft = DraftProvider(paths, encoder_preset="ultrafast", short_side=180)
    draft.limits = InputLimits(side_min=100, video_min_seconds=0.4)
    pipeline = fast_pipeline(paths)
    pipeline.conform_options = ConformOptions(crf=30, preset="ultrafast")
    with InProcessDaemon(settings, paths, providers={"draft": draft},
                         pipeline=pipeline, poll_intervals={"draft": (0.05, 0.2)}) as c:
        yield c


def _clip(path: Path, start: int, count: int, total: int) -> otio.schema.Clip:
    ref = otio.schema.ExternalReference(
        target_url=path.as_uri(),
        available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, RATE),
                                                otio.opentime.RationalTime(total, RATE)))
    used = otio.opentime.TimeRange(otio.opentime.RationalTime(start, RATE),
                                   otio.opentime.RationalTime(count, RATE))
    return otio.schema.Clip(name=path.name, media_reference=ref, source_range=used)


def _timeline(clips: list[otio.schema.Clip]) -> otio.schema.Timeline:
    tl = otio.schema.Timeline(name="names")
    tl.global_start_time = otio.opentime.RationalTime(0, RATE)
    track = otio.schema.Track(name="V1")
    for clip in clips:
        track.append(clip)
    tl.tracks.append(track)
    return tl


def _restyle_all(client: BridgeClient, timeline: Path, fmt: str) -> list[dict[str, Any]]:
    answer = client.restyle({"timeline_path": str(timeline), "select": {"mode": "all",
                                                                         "handles": 0},
                             "looks": [{"preset": "remix-cobalt"}], "resolution": "720p"})
    final = client.wait_batch(answer["batch_id"], interval=0.1)
    assert {j["state"] for j in final["jobs"]} == {"succeeded"}, final["jobs"]
    result = client.batch_timeline(final["batch_id"], fmt)
    out = timeline.with_name(timeline.stem + ".result" + timeline.suffix)
    out.write_bytes(result)
    return [*final["jobs"], {"timeline": out}]


def _video(job: dict[str, Any]) -> Path:
    return Path(next(o["path"] for o in job["result"]["outputs"] if o["role"] == "video"))


def _check(jobs: list[dict[str, Any]], expected: list[tuple[int, int]]) -> list[Path]:
    """Each job's video is its own file and shows its own source frames (barcodes)."""
    *jobs, extra = jobs
    videos = [_video(j) for j in jobs]
    assert len(set(videos)) == len(videos), [v.name for v in videos]
    seen = sorted((j["spec"]["source"]["start_frame"], j["spec"]["source"]["frame_count"],
                   _video(j)) for j in jobs)
    assert [(s, c) for s, c, _ in seen] == sorted(expected)
    for job in jobs:
        src = job["spec"]["source"]
        codes = read_barcodes(_video(job))
        first = src["start_frame"] + (500 if "camera B" in src["path"] else 0)
        assert len(codes) == src["frame_count"]
        assert max(abs(c - (first + k)) for k, c in enumerate(codes)) <= 1, (job["label"], codes)
    # The result timeline's new clips point at those very files, one each.
    result = read_timeline(extra["timeline"]).timeline
    linked = sorted(str(path_from_url(c.media_reference.target_url)) for c in new_clips(result))
    assert linked == sorted(str(v) for v in videos)
    return videos


@pytest.mark.slow
def test_two_premiere_clips_called_source_mp4_each_keep_their_frames(
    client: BridgeClient, footage: dict[str, Path], tmp_path: Path
) -> None:
    tl = _timeline([_clip(footage["a"], 20, 30, 200), _clip(footage["b"], 20, 30, 200)])
    xml = write_timeline(tl, tmp_path / "premiere.xml", "fcp_xml")
    videos = _check(_restyle_all(client, xml, "fcp_xml"), [(20, 30), (20, 30)])
    # readable names: source name, look, variant, range, then the job's own tag
    for video in videos:
        assert video.name.startswith("source.remix-cobalt.v1.f20-49.")
        assert ".draft." in video.name


@pytest.mark.slow
def test_ten_fcpxml_clips_of_one_asset_and_one_clip_twice(
    client: BridgeClient, footage: dict[str, Path], tmp_path: Path
) -> None:
    ranges = [(n * 18, 12 + n) for n in range(10)]
    tl = _timeline([_clip(footage["a"], s, c, 200) for s, c in ranges])
    fcpxml = write_timeline(tl, tmp_path / "ten.fcpxml", "fcpx_xml")
    _check(_restyle_all(client, fcpxml, "fcpx_xml"), ranges)
    # The same clip selected twice at different ranges (an OTIO timeline).
    twice = _timeline([_clip(footage["b"], 0, 20, 200), _clip(footage["b"], 100, 25, 200)])
    otio_file = write_timeline(twice, tmp_path / "twice.otio")
    _check(_restyle_all(client, otio_file, "otio"), [(0, 20), (100, 25)])
