"""The corpus of real exports added for issue 9: what each becomes as jobs (golden), and its
result in its own format (the editor's document spliced) read back with every new clip over
its source.

Golden files are ``golden/<sample>.jobs.json``; a missing one fails (write them with
``KLING_BRIDGE_UPDATE_GOLDENS=1`` and review). A few values are checked by hand against the
files themselves below, so the goldens are not just whatever the code produced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.timeline.document import keep, result_files
from kling_bridge.timeline.formats import read_timeline, read_timeline_text
from kling_bridge.timeline.rates import timeline_rate
from kling_bridge.timeline.results import new_clips
from kling_bridge.timeline.selection import Criteria, select
from tests.timeline.conftest import GOLDEN
from tests.timeline.helpers import record_range, results_for
from tests.timeline.test_samples_golden import _jobs_summary, _media_start, _relinked

CORPUS = ["premiere_enable_property.xml", "resolve_ftw_export.xml", "kdenlive_tracks_clips.otio",
          "timecode_mismatch.edl", "avid_screening_example.edl"]


def _golden(name: str, data: dict[str, Any]) -> dict[str, Any]:
    path = GOLDEN / f"{name}.jobs.json"
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if os.environ.get("KLING_BRIDGE_UPDATE_GOLDENS") == "1":
        path.write_text(text)
    assert path.exists(), f"{path.name} is missing: write it with KLING_BRIDGE_UPDATE_GOLDENS=1"
    stored: dict[str, Any] = json.loads(path.read_text())
    assert stored == json.loads(text), f"golden {path.name} differs"
    return stored


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_jobs_and_spliced_result(name: str, samples: Path, tmp_path: Path) -> None:
    source = samples / name
    read = read_timeline(source, check_media=False)
    timeline = _relinked(read.timeline, tmp_path / "media")
    selection = select(timeline, Criteria(all_clips=True, handles=12), _media_start)
    _golden(name, _jobs_summary(selection))
    results = results_for(selection, out_dir=str(tmp_path / "out"))
    files = result_files(keep(read, source), results)
    rate = timeline_rate(read.timeline)
    placed = {}
    for written in files:
        again = read_timeline_text(written.data.decode("utf-8"), written.format,
                                   rate=float(rate), check_media=False).timeline
        start = again.global_start_time
        offset = round(start.rescaled_to(float(rate)).value) if start is not None else 0
        for clip in new_clips(again):
            rec = record_range(clip, rate)
            placed[clip.metadata["kling_bridge"]["job_id"]] = (rec[0] + offset, rec[1])
    first = read.timeline.global_start_time
    base = round(first.rescaled_to(float(rate)).value) if first is not None else 0
    wanted = {r.job_id: (base + r.clip.record_start, r.clip.record_duration)
              for r in results if r.kind == "restyle"}
    assert {k: v for k, v in placed.items() if k in wanted} == wanted


def test_corpus_goldens_hold_facts_checked_by_hand() -> None:
    enable = json.loads((GOLDEN / "premiere_enable_property.xml.jobs.json").read_text())
    skipped = {name: why for name, why in enable["skipped"]}
    # <enabled>FALSE</enabled> on two clip items, and on video track 3
    assert "switched off" in skipped["video_track_1_disabled_1"]
    assert "switched off" in skipped["video_track_1_disabled_2"]
    assert "track (V3)" in skipped["video_track_3_disabled_1"]
    resolve = json.loads((GOLDEN / "resolve_ftw_export.xml.jobs.json").read_text())
    (job,) = resolve["restyles"]
    # <start>0</start><end>-1</end>: the cross dissolve 84-108 (center) cuts at 96; <in>24
    assert (job["clip"]["record_start"], job["clip"]["record_duration"]) == (0, 96)
    assert job["source"]["start_frame"] == 24 and job["clip"]["timeline_rate"] == "24"
    assert [why for _n, why in resolve["skipped"]] == [
        "generator or title (FxPlugWrapper:C18E8B62_C24F_4F8D_8597_858675A40BBC): there is "
        "no footage to restyle"] * 2
    kdenlive = json.loads((GOLDEN / "kdenlive_tracks_clips.otio.jobs.json").read_text())
    # V2: Red [0, 5), gap, Blue [10, 15); V1: gap, Yellow [5, 10) -- 25 fps
    assert sorted((j["clip"]["name"], j["clip"]["record_start"]) for j in kdenlive["restyles"]
                  ) == [("Blue", 10), ("Red", 0), ("Yellow", 5)]
