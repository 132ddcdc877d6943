"""Selection -> jobs -> result timeline -> write -> read back, in every format and rate.

Each written file is read back with our reader (as the editor's next import would be) and
checked: every new clip sits exactly over its source (record frames, counted from the
timeline's 01:00:00:00 start), and the editor's own clips are as they were, within what
each format can carry (noted per format).
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from kling_bridge.timeline import (
    read_timeline,
    read_timeline_text,
    timeline_to_string,
    write_timeline,
)
from kling_bridge.timeline.paths import path_from_url
from kling_bridge.timeline.rates import exact_rate, timeline_rate
from kling_bridge.timeline.results import apply_results, new_clips
from kling_bridge.timeline.selection import Criteria, select
from tests.timeline.builders import RATES, build
from tests.timeline.helpers import record_range, results_for

FORMATS = {
    "otio_json": ".otio", "otioz": ".otioz", "otiod": ".otiod", "fcp_xml": ".xml",
    "fcpx_xml": ".fcpxml", "AAF": ".aaf",
}


@pytest.fixture(scope="session")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny real movie; copied to every name a timeline references."""
    folder = tmp_path_factory.mktemp("stand-in")
    movie = folder / "stand-in.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x36:rate=24:duration=1",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(movie)],
        check=True,
    )
    return movie


def _media_for(timeline: otio.schema.Timeline, results: list[Any], movie: Path) -> None:
    paths = {r.path for r in results}
    for clip in timeline.find_clips():
        url = getattr(clip.media_reference, "target_url", "")
        local = path_from_url(url) if url else None
        if local:
            paths.add(local)
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if not Path(path).exists():
            shutil.copyfile(movie, path)


def _signature(timeline: otio.schema.Timeline, fmt: str) -> list[tuple[Any, ...]]:
    """The editor's own clips as (kind, name, record start/length, source start/length)."""
    rate = timeline_rate(timeline)
    start = _start(timeline, rate)
    rows = []
    for track in timeline.tracks:
        for item in track:
            if not isinstance(item, otio.schema.Clip | otio.schema.Stack):
                continue
            if isinstance(item, otio.schema.Clip) and item in new_clips(timeline):
                continue
            if fmt == "AAF" and (item.name in ("Title", "Comp 1", "C001")):
                continue  # AAF: generators become gaps, nested compounds are flattened
            rec = record_range(item, rate)
            src = item.trimmed_range()
            rows.append((track.kind, item.name, rec[0] + start, rec[1],
                         round(src.start_time.value), round(src.duration.value)))
    return sorted(rows)


def _start(timeline: otio.schema.Timeline, rate: Fraction) -> int:
    start = timeline.global_start_time
    return round(start.rescaled_to(float(rate)).value) if start is not None else 0


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("label", list(RATES))
def test_round_trip(label: str, fmt: str, tmp_path: Path, stand_in: Path) -> None:
    built = build(label, media_dir=str(tmp_path / "cam #A"))
    rate = exact_rate(built.rate)
    selection = select(built.timeline, Criteria(all_clips=True, handles=6))
    results = results_for(selection, handle_before=True, out_dir=str(tmp_path / "out dir"))
    output = apply_results(built.timeline, results)
    _media_for(output, results, stand_in)

    path = write_timeline(output, tmp_path / f"result{FORMATS[fmt]}")
    again = read_timeline(path).timeline
    assert timeline_rate(again) == rate
    start = _start(again, rate)
    assert start == built.start  # 01:00:00:00 survives

    wanted = {r.job_id: r for r in results}
    placed: dict[str, list[tuple[int, int]]] = {}
    for clip in new_clips(again):
        job = clip.metadata["kling_bridge"]["job_id"]
        rec = record_range(clip, rate)
        placed.setdefault(job, []).append((rec[0] + start, rec[1]))
        local = path_from_url(clip.media_reference.target_url)
        if fmt in ("otioz", "otiod"):  # bundles carry the media inside
            assert local is not None and Path(local).is_file()
            assert Path(local).name == Path(wanted[job].path).name
        else:
            assert local == wanted[job].path
    for job, result in wanted.items():
        ref = result.clip
        expected_len = ref.record_duration if result.kind == "restyle" else min(
            ref.record_duration, round(Fraction(result.frames or 0, 24) * rate))
        assert (built.start + ref.record_start, expected_len) in placed[job], (job, placed[job])
    assert _signature(again, fmt) == _signature(built.timeline, fmt)



@pytest.mark.parametrize("label", list(RATES))
def test_edl_round_trip_of_the_look_track(label: str) -> None:
    """EDLs hold one video track: the look's, with record timecode from 01:00:00:00."""
    built = build(label)
    rate = exact_rate(built.rate)
    selection = select(built.timeline, Criteria(tracks=("Video 1",), handles=6, generations=False))
    results = results_for(selection, handle_before=True, out_dir="/out/a b")
    output = apply_results(built.timeline, results)
    text = timeline_to_string(output, "cmx_3600", video_track="film-noir")
    _rate, drop = RATES[label]
    assert ("FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME") in text
    first_event = next(line for line in text.splitlines() if line.startswith("001"))
    assert first_event.split()[-2] in ("01:00:00:00", "01:00:00;00")
    assert ";" in first_event if drop else ";" not in first_event

    again = read_timeline_text(text, "cmx_3600", rate=float(rate)).timeline
    start = _start(again, rate)
    for clip in new_clips(again):
        meta = clip.metadata["kling_bridge"]
        result = next(r for r in results if r.job_id == meta["job_id"])
        rec = record_range(clip, rate)
        assert (rec[0] + start, rec[1]) == (built.start + result.clip.record_start,
                                            result.clip.record_duration)
        assert clip.media_reference.target_url == result.path  # a path, '#' and spaces intact
    assert len(new_clips(again)) == len(results)


def test_ale_lists_the_new_media_at_the_timeline_rate(tmp_path: Path) -> None:
    built = build("23.976")
    selection = select(built.timeline, Criteria(all_clips=True, generations=False))
    output = apply_results(built.timeline, results_for(selection))
    text = timeline_to_string(output, "ale")
    assert "FPS\t23.976" in text  # the stock writer says 24 unless told
    path = write_timeline(output, tmp_path / "bin.ale")
    clips = list(read_timeline(path, rate=24000 / 1001).timeline.find_clips())
    assert [c.name for c in clips] == ["A001 [film-noir]", "A002 [film-noir]", "B001 [film-noir]"]
