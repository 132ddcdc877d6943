"""Each known adapter failure, shown with the stock adapter and fixed by our writer."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import opentimelineio as otio
import pytest

from kling_bridge.timeline import (
    read_timeline,
    read_timeline_text,
    result_path,
    timeline_to_bytes,
    timeline_to_string,
    write_timeline,
)
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.paths import path_from_url
from kling_bridge.timeline.rates import timeline_rate
from kling_bridge.timeline.results import apply_results, new_clips
from kling_bridge.timeline.selection import Criteria, select
from tests.timeline.builders import RATES, build, clip, hour
from tests.timeline.helpers import record_range, results_for


def _simple(rate: float, drop: bool = False, path: str = "/m/take #1 100%.mov",
            reel: str | None = None) -> otio.schema.Timeline:
    start = hour(rate, drop)
    timeline = otio.schema.Timeline(name="simple", global_start_time=start)
    timeline.metadata["kling_bridge"] = {"drop_frame": drop}
    track = otio.schema.Track(name="V1")
    item = clip("shot", path, rate, int(start.value), 5, 48)
    if reel:
        item.metadata["cmx_3600"] = {"reel": reel}
    track.append(item)
    timeline.tracks.append(track)
    return timeline


# --------------------------------------------------------------------------- FCPXML


@pytest.mark.parametrize(("label", "duration"), [
    ("23.976", "1001/24000s"), ("29.97DF", "1001/30000s"), ("59.94", "1001/60000s"),
    ("24", "1/24s"), ("25", "1/25s")])
def test_fcpxml_frame_duration(label: str, duration: str) -> None:
    rate, drop = RATES[label]
    timeline = _simple(rate, drop)
    stock = otio.adapters.write_to_string(timeline, "fcpx_xml")
    if label in ("23.976", "29.97DF"):
        assert 'frameDuration=""' in stock  # the adapter bug
    ours = timeline_to_string(timeline, "fcpx_xml")
    assert re.findall(r'frameDuration="([^"]*)"', ours) == [duration]
    assert 'tcStart="' in ours
    again = read_timeline_text(ours, "fcpx_xml").timeline
    assert again.global_start_time.to_frames() == timeline.global_start_time.to_frames()
    shot = again.find_clips()[0]
    assert record_range(shot, timeline_rate(again)) == (0, 48)
    assert shot.source_range.start_time.value == timeline.global_start_time.value + 5


def test_fcpxml_ntsc_read_is_exact_where_the_stock_reader_drifts() -> None:
    """A Final Cut 23.976 project starting at 01:00:00:00, written as Final Cut writes it."""
    text = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.8">
  <resources>
    <format id="r1" frameDuration="1001/24000s" name="FFVideoFormat1080p2398"/>
    <asset id="r2" name="A001" src="file:///m/A001%20%231.mov" start="3603600/1000s"
           duration="10010/1000s" hasVideo="1" format="r1"/>
  </resources>
  <project name="NTSC">
    <sequence format="r1" tcStart="3603600/1000s" duration="48048/24000s">
      <spine>
        <asset-clip name="A001" ref="r2" offset="3603600/1000s" start="3604804/1000s"
                    duration="48048/24000s" format="r1"/>
      </spine>
    </sequence>
  </project>
</fcpxml>"""
    stock = otio.adapters.read_from_string(text, "fcpx_xml")
    stock_clip = stock.find_clips()[0]
    assert stock_clip.source_range.duration.rate == 23  # int(24000/1001): the bug
    ours = read_timeline_text(text, "fcpx_xml").timeline
    shot = ours.find_clips()[0]
    assert shot.source_range.duration.rate == pytest.approx(24000 / 1001)
    assert shot.source_range.duration.value == 48
    assert shot.source_range.start_time.value == 86400 + 29  # 01:00:01:05
    assert ours.global_start_time.value == 86400
    assert record_range(shot, timeline_rate(ours)) == (0, 48)
    assert path_from_url(shot.media_reference.target_url) == "/m/A001 #1.mov"


# --------------------------------------------------------------------------- EDL


def test_edl_timeline_start_and_reel_with_spaces() -> None:
    timeline = _simple(25.0, reel="A 001 B")
    stock = otio.adapters.write_to_string(timeline, "cmx_3600")
    stock_event = next(line for line in stock.splitlines() if line.startswith("001"))
    assert stock_event.split()[-2] == "00:00:00:00"  # start ignored
    assert stock_event.split()[1:3] == ["A", "001"]  # the reel name split the event line
    ours = timeline_to_string(timeline, "cmx_3600")
    event = next(line for line in ours.splitlines() if line.startswith("001"))
    assert event.split()[1] == "A_001_B"
    assert event.split()[-2:] == ["01:00:00:00", "01:00:01:23"]
    again = read_timeline_text(ours, "edl", rate=25).timeline
    shot = again.find_clips()[0]
    assert shot.metadata["cmx_3600"]["reel"] == "A_001_B"
    assert again.global_start_time.value == 90000
    assert path_from_url(shot.media_reference.target_url) == "/m/take #1 100%.mov"


HANDWRITTEN_DF = """TITLE: broadcast cut
FCM: DROP FRAME

001  A001     V     C        01:00:00;00 01:00:02;00 01:00:00;00 01:00:02;00
* FROM CLIP NAME:  A001
* FROM CLIP: /m/A001.mov
002  A002     V     C        01:00:10;00 01:00:12;00 01:00:02;00 01:00:04;00
* FROM CLIP NAME:  A002
* FROM CLIP: /m/A002.mov
"""


@pytest.mark.parametrize("drop", [True, False])
def test_handwritten_2997_edl_round_trip(drop: bool) -> None:
    text = HANDWRITTEN_DF if drop else HANDWRITTEN_DF.replace(";", ":").replace(
        "FCM: DROP FRAME", "FCM: NON-DROP FRAME")
    rate = 30000 / 1001
    read = read_timeline_text(text, "edl", rate=None if drop else rate)
    timeline = read.timeline
    assert timeline_rate(timeline) == timeline_rate(_simple(rate))
    assert timeline.global_start_time.value == (107892 if drop else 108000)
    media_starts = {"/m/A001.mov": otio.opentime.from_timecode(
        "01:00:00;00" if drop else "01:00:00:00", rate)}
    selection = select(timeline, Criteria(all_clips=True),
                       lambda p: media_starts.get(p, media_starts["/m/A001.mov"]))
    assert [(s.start_frame, s.frame_count) for _r, s in selection.restyles] == [
        (0, 60), (300, 60)]
    output = apply_results(timeline, results_for(selection))
    written = timeline_to_string(output, "cmx_3600", video_track="film-noir")
    assert ("FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME") in written
    events = [line.split() for line in written.splitlines() if line[:3].isdigit()]
    sep = ";" if drop else ":"
    assert [e[-2:] for e in events] == [[f"01:00:00{sep}00", f"01:00:02{sep}00"],
                                        [f"01:00:02{sep}00", f"01:00:04{sep}00"]]


# --------------------------------------------------------------------------- AAF, ALE


def test_aaf_needs_empty_mob_ids(tmp_path: Path) -> None:
    timeline = _simple(24000 / 1001)
    with pytest.raises(Exception, match="mob ID"):
        otio.adapters.write_to_file(timeline, str(tmp_path / "stock.aaf"))
    path = write_timeline(timeline, tmp_path / "ours.aaf")
    again = read_timeline(path).timeline
    shot = again.find_clips()[0]
    assert shot.source_range.duration.value == 48
    assert again.global_start_time.value == 86400


def test_ale_rate(tmp_path: Path) -> None:
    timeline = _simple(25.0)
    assert "FPS\t24" in otio.adapters.write_to_string(timeline, "ale")  # stock default
    assert "FPS\t25" in timeline_to_string(timeline, "ale")


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize("fmt", ["fcp_xml", "fcpx_xml", "otio_json", "cmx_3600"])
def test_names_with_hash_space_and_percent_survive(fmt: str) -> None:
    timeline = _simple(24.0)
    text = timeline_to_string(timeline, fmt)
    if fmt in ("fcp_xml", "fcpx_xml"):
        assert "take%20%231%20100%25.mov" in text  # encoded: '#' no longer cuts the name
    again = read_timeline_text(text, fmt, rate=24).timeline
    shot = again.find_clips()[0]
    assert path_from_url(shot.media_reference.target_url) == "/m/take #1 100%.mov"


def test_resolve_bare_paths_become_urls_in_xml(samples: Path) -> None:
    timeline = read_timeline(samples / "blender53_resolve_metadata.otio").timeline
    text = timeline_to_string(timeline, "fcp_xml")
    assert "<pathurl>file:///Volumes/Media/bridge_sample/src_24fps.mp4</pathurl>" in text
    # OTIO JSON keeps them bare: Resolve only re-imports files shaped like its own
    assert '"target_url": "/Volumes/Media/bridge_sample/src_24fps.mp4"' in timeline_to_string(
        timeline, "otio")


# --------------------------------------------------------------------------- files


def test_writes_are_atomic_and_never_overwrite(tmp_path: Path, samples: Path) -> None:
    source = tmp_path / "cut.otio"
    source.write_bytes((samples / "blender53_resolve_metadata.otio").read_bytes())
    original = source.read_bytes()
    timeline = read_timeline(source).timeline
    with pytest.raises(TimelineError, match="does not overwrite"):
        write_timeline(timeline, source)
    assert source.read_bytes() == original
    target = result_path(source)
    assert target.name == "cut.kling.otio"
    write_timeline(timeline, target)
    assert result_path(source).name == "cut.kling-2.otio"
    assert result_path(source, "fcp_xml").name == "cut.kling.xml"
    write_timeline(timeline, target, replace=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.kling.otio", "cut.otio"]
    with pytest.raises(TimelineError, match="which format"):
        write_timeline(timeline, tmp_path / "cut.mov")


def test_bundles_and_bytes(tmp_path: Path) -> None:
    built = build("24", media_dir=str(tmp_path / "media"))
    (tmp_path / "media").mkdir()
    for name in ("A001 take #1.mov", "A002.mov", "A003.mov", "A004.mov", "B001.mov",
                 "C001.mov"):
        (tmp_path / "media" / name).write_bytes(b"\x00" * 16)
    data = timeline_to_bytes(built.timeline, "otioz")
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as archive:
        assert "media/A001 take #1.mov" in archive.namelist()
    assert timeline_to_bytes(built.timeline, "aaf")[:4] == b"\xd0\xcf\x11\xe0"
    bundle = write_timeline(built.timeline, tmp_path / "cut.fcpxmld")
    assert (bundle / "Info.fcpxml").is_file()
    assert read_timeline(bundle).format == "fcpx_xml"
    otiod = write_timeline(built.timeline, tmp_path / "cut.otiod")
    assert (otiod / "content.otio").is_file()
    again = read_timeline(otiod)
    assert not [i for i in again.issues if "A001" in i.item]  # media found in the bundle
    write_timeline(built.timeline, otiod, replace=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_new_clips_keep_provenance_in_every_format(tmp_path: Path) -> None:
    built = build("25")
    output = apply_results(built.timeline, results_for(
        select(built.timeline, Criteria(all_clips=True))))
    for fmt in ("fcp_xml", "fcpx_xml", "otio"):
        again = read_timeline_text(timeline_to_string(output, fmt), fmt).timeline
        jobs = {c.metadata["kling_bridge"]["job_id"] for c in new_clips(again)}
        assert jobs == {"job-film-noir-0-0", "job-film-noir-0-1", "job-film-noir-0-2",
                        "gen-0", "gen-1", "gen-2"}, fmt
        # the carrier markers are gone again after reading
        assert not [m for c in new_clips(again) for m in c.markers
                    if m.name.startswith("kling_bridge")]
