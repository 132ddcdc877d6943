"""AAF results from real Avid Media Composer files: always written, new clips read back.

OpenTimelineIO's AAF writer died with ``KeyError: 'ImageAspectRatio'`` on Avid's
``MultipleDescriptor`` (picture and sound of one file described together) -- after the
render, so the editor got nothing. The writer is given descriptors it can rebuild
(:func:`kling_bridge.timeline.writeback._aaf_descriptors`), with its own defaults as the
last resort, so every sample below writes, unmodified and with results.
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from kling_bridge.timeline.document import keep, result_files
from kling_bridge.timeline.formats import read_timeline
from kling_bridge.timeline.rates import timeline_rate
from kling_bridge.timeline.results import new_clips
from kling_bridge.timeline.selection import Criteria, select
from kling_bridge.timeline.writing import write_timeline
from tests.timeline.helpers import record_range, results_for

AAFS = ["avid_2997fps-DFTC.aaf", "avid_simple.aaf"]


def _originals(timeline: otio.schema.Timeline) -> list[tuple[str, str, int, int]]:
    rate = timeline_rate(timeline)
    added = {id(c) for c in new_clips(timeline)}
    return sorted((str(t.kind), c.name, *record_range(c, rate))
                  for t in timeline.tracks
                  for c in t.find_clips() if id(c) not in added)


@pytest.mark.parametrize("name", AAFS)
def test_unmodified_avid_file_is_written(name: str, samples: Path, tmp_path: Path) -> None:
    read = read_timeline(samples / name, check_media=False)
    path = write_timeline(read.timeline, tmp_path / "same.aaf")
    again = read_timeline(path, check_media=False)
    assert _originals(again.timeline) == _originals(read.timeline)


@pytest.mark.parametrize("name", AAFS)
def test_results_written_into_an_avid_file(name: str, samples: Path, tmp_path: Path) -> None:
    source = samples / name
    read = read_timeline(source, check_media=False)
    selection = select(read.timeline, Criteria(all_clips=True))
    results = results_for(selection, out_dir=str(tmp_path / "out"))
    document = keep(read, source)
    assert document.text is None and document.sha256  # binary: kept by path and hash
    (written,) = result_files(document, results)
    assert written.format == "AAF" and written.data[:4] == b"\xd0\xcf\x11\xe0"
    path = tmp_path / "result.aaf"
    path.write_bytes(written.data)
    again = read_timeline(path, check_media=False).timeline
    rate = timeline_rate(again)
    added = {c.metadata["kling_bridge"]["job_id"]: c for c in new_clips(again)}
    assert set(added) == {r.job_id for r in results}
    for result in results:
        clip = added[result.job_id]
        assert record_range(clip, rate) == (result.clip.record_start,
                                            result.clip.record_duration)
        assert clip.metadata["kling_bridge"]["note"].startswith("Kling O3 · film-noir")
    assert _originals(again) == _originals(read.timeline)


def test_muted_avid_clip_is_left_out_with_a_reason(samples: Path) -> None:
    read = read_timeline(samples / "avid_test_muted_clip.aaf", check_media=False)
    with pytest.raises(Exception, match="switched off"):
        select(read.timeline, Criteria(all_clips=True))


def test_a_changed_aaf_is_not_used_for_the_result(samples: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cut.aaf"
    copy.write_bytes((samples / "avid_simple.aaf").read_bytes())
    read = read_timeline(copy, check_media=False)
    results = results_for(select(read.timeline, Criteria(all_clips=True)))
    document = keep(read, copy)
    copy.write_bytes(copy.read_bytes() + b"\0")
    with pytest.raises(Exception, match="changed since the batch was made"):
        result_files(document, results)
    (fallback,) = result_files(document, results, timeline=read.timeline)
    assert fallback.format == "AAF"
