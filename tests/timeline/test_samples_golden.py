"""Golden tests on the real editors' exports: selection -> jobs -> result -> write -> read.

Each sample is read in place from tests/samples (a copy of ../shared/samples), its media
relinked to stand-in files (the editors' paths do not exist here), every clip selected with
12-frame handles, and:

- the jobs (and the items refused, by name) must equal ``golden/<sample>.jobs.json``;
- the result timeline, written back in the sample's own format and read again, must hold
  every new clip exactly over its source and every original clip as it was.

``KLING_BRIDGE_UPDATE_GOLDENS=1 pytest tests/timeline/test_samples_golden.py`` (or the older
``KB_UPDATE_GOLDEN=1``) rewrites the golden files after a deliberate change; a missing one
fails. Review the diff like code.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict
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
from kling_bridge.timeline.paths import path_from_url, url_from_path
from kling_bridge.timeline.rates import exact_rate, timeline_rate
from kling_bridge.timeline.results import apply_results, new_clips
from kling_bridge.timeline.selection import Criteria, Selection, select
from tests.timeline.conftest import GOLDEN
from tests.timeline.helpers import record_range, results_for

SAMPLES = [
    "premiere_example.xml", "hiero_xml_export.xml", "fcpx_project.fcpxml",
    "fcpx_example.fcpxml", "avid_example.edl", "nucoda_example.edl", "premiere_example.edl",
    "25fps.edl", "speed_effects.edl", "blender53_resolve_metadata.otio",
]
SUFFIX = {"fcp_xml": ".xml", "fcpx_xml": ".fcpxml", "cmx_3600": ".edl", "otio_json": ".otio"}


def _relinked(timeline: otio.schema.Timeline, media: Path) -> otio.schema.Timeline:
    """Every clip's media pointed at a stand-in of the same name in ``media`` (as a user
    relinks an offline cut); EDL clips without any path get one from their clip name."""
    result = copy.deepcopy(timeline)
    for clip in result.find_clips():
        ref = clip.media_reference
        if isinstance(ref, otio.schema.GeneratorReference):
            continue
        url = getattr(ref, "target_url", "")
        name = (path_from_url(url) or "").rsplit("/", 1)[-1] if url else ""
        if not name or name.lower().endswith(".exr"):
            name = clip.name.split(" ")[0].split(".")[0] + ".mov"
        new = otio.schema.ExternalReference(
            target_url=url_from_path(str(media / name)),
            available_range=getattr(ref, "available_range", None))
        clip.media_reference = new
    return result


def _media_start(path: str) -> otio.opentime.RationalTime:
    """Stand-ins for EDL sources: camera files starting at 01:00:00:00 (from ffprobe)."""
    del path
    return otio.opentime.RationalTime(86400, 24)


def _jobs_summary(selection: Selection) -> dict[str, Any]:
    return {
        "restyles": [
            {"clip": asdict(ref), "source": {**asdict(src), "path": Path(src.path).name}}
            for ref, src in selection.restyles
        ],
        "skipped": [list(item) for item in selection.skipped],
        "generations": [asdict(g) for g in selection.generations],
    }


def _golden(name: str, data: dict[str, Any]) -> None:
    path = GOLDEN / f"{name}.jobs.json"
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if os.environ.get("KB_UPDATE_GOLDEN") or os.environ.get("KLING_BRIDGE_UPDATE_GOLDENS"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path.name} is missing: write it with KLING_BRIDGE_UPDATE_GOLDENS=1"
    assert json.loads(path.read_text()) == json.loads(text), f"golden {path.name} differs"


def _placements(timeline: otio.schema.Timeline) -> dict[str, tuple[int, int]]:
    rate = timeline_rate(timeline)
    start = timeline.global_start_time
    offset = round(start.rescaled_to(float(rate)).value) if start is not None else 0
    found = {}
    for clip in new_clips(timeline):
        rec = record_range(clip, rate)
        found[clip.metadata["kling_bridge"]["job_id"]] = (rec[0] + offset, rec[1])
    return found


def _originals(timeline: otio.schema.Timeline) -> list[tuple[Any, ...]]:
    rate = timeline_rate(timeline)
    start = timeline.global_start_time
    offset = round(start.rescaled_to(float(rate)).value) if start is not None else 0
    added = {id(c) for c in new_clips(timeline)}
    rows = []
    for track in timeline.tracks:
        for item in track:
            if isinstance(item, otio.schema.Clip | otio.schema.Stack) and id(item) not in added:
                rec = record_range(item, rate)
                rows.append((item.name, rec[0] + offset, rec[1]))
    return sorted(rows)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_golden_round_trip(name: str, samples: Path, tmp_path: Path) -> None:
    read = read_timeline(samples / name)
    timeline = _relinked(read.timeline, tmp_path / "media")
    selection = select(timeline, Criteria(all_clips=True, handles=12), _media_start)
    _golden(name, _jobs_summary(selection))

    results = results_for(selection, out_dir=str(tmp_path / "kling out"))
    output = apply_results(timeline, results)
    rate = exact_rate(timeline_rate(timeline))
    start = timeline.global_start_time
    offset = round(start.rescaled_to(float(rate)).value) if start is not None else 0
    wanted = {r.job_id: (offset + r.clip.record_start,
                         r.clip.record_duration if r.kind == "restyle" else min(
                             r.clip.record_duration,
                             round(Fraction(r.frames or 0, 24) * rate)))
              for r in results}

    if read.format == "cmx_3600":  # one video track per EDL: the look's
        text = timeline_to_string(output, "cmx_3600", video_track="film-noir")
        again = read_timeline_text(text, "cmx_3600", rate=float(rate)).timeline
        placed = _placements(again)
        assert placed == {k: v for k, v in wanted.items() if k in placed}
        assert set(placed) == {r.job_id for r in results
                               if r.kind == "restyle" and _on_first_lane(output, r.job_id)}
        return
    path = write_timeline(output, tmp_path / f"result{SUFFIX[read.format]}")
    again = read_timeline(path).timeline
    assert _placements(again) == wanted
    assert _originals(again) == _originals(timeline)


def _on_first_lane(output: otio.schema.Timeline, job_id: str) -> bool:
    track = next(t for t in output.tracks if t.name == "film-noir")
    return any(c.metadata.get("kling_bridge", {}).get("job_id") == job_id
               for c in track if isinstance(c, otio.schema.Clip))


def test_golden_files_record_the_facts_checked_by_hand() -> None:
    """A few values verified against the XML/EDL text itself, so the goldens are not just
    whatever the code produced."""
    hiero = json.loads((GOLDEN / "hiero_xml_export.xml.jobs.json").read_text())
    (job,) = hiero["restyles"]
    # <start>14</start> <in>0</in> <out>1055</out>, file timecode 12:44:37:23 = its frame 0
    assert (job["clip"]["record_start"], job["clip"]["record_duration"]) == (14, 1055)
    assert (job["source"]["start_frame"], job["source"]["handle_after"]) == (0, 0)
    assert hiero["skipped"][0][0] == "/"  # the Time Remap clip
    premiere = json.loads((GOLDEN / "premiere_example.xml.jobs.json").read_text())
    first = premiere["restyles"][0]
    # clipitem-1: <start>536</start><end>636</end>, 15 fps in/out 0-50 over a 30 fps file
    assert (first["clip"]["record_start"], first["clip"]["record_duration"]) == (536, 100)
    assert (first["source"]["rate"], first["source"]["frame_count"]) == ("30", 100)
    avid = json.loads((GOLDEN / "avid_example.edl.jobs.json").read_text())
    # 001 ... 01:00:04:05 01:00:05:12 -> 101 frames after 01:00:00:00, 31 long
    assert [(j["source"]["start_frame"], j["source"]["frame_count"]) for j in avid["restyles"]
            ] == [(101, 31), (157, 50)]
