"""OTIO results spliced into the editor's document as text, checked element by element.

At 23.976, 24, 25, 29.97 DF and NDF, 30 and 59.94 fps, from 00:00:00:00 and 01:00:00:00,
and on real exports (Resolve-shaped, Kdenlive):

- the result is the original text with one piece inserted, after the last track: every
  byte before and after it is the editor's, and the document read as JSON has every
  original value unchanged;
- each new clip's record position, summed from the JSON durations of the new track, equals
  its source's, summed the same way in the source's track (not through the reader);
- OpenTimelineIO reads each new clip exactly over its source;
- the new tracks' JSON is what OpenTimelineIO itself writes for the same objects, schema
  versions included (so an OTIO upgrade that changes a schema fails here, not in an editor);
- the inserted text equals the golden file (``KLING_BRIDGE_UPDATE_GOLDENS=1`` writes one).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.formats import read_timeline, read_timeline_text
from kling_bridge.timeline.otio_splice import splice_otio
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.results import SCHEMAS, new_clips, track_documents, url_style
from kling_bridge.timeline.selection import Criteria, select
from tests.timeline import reference
from tests.timeline.builders import ALL_RATES, build
from tests.timeline.helpers import record_range, results_for
from tests.timeline.splice_checks import check_golden

JSON = otio.adapters.otio_json.write_to_string
CASES = [(label, zero) for label in ALL_RATES for zero in (True, False)]


def _inserted(original: str, result: str) -> tuple[int, str]:
    """Where one piece was inserted into ``original`` to make ``result``, and the piece."""
    prefix = 0
    limit = min(len(original), len(result))
    while prefix < limit and original[prefix] == result[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < len(original) - prefix
           and original[len(original) - 1 - suffix] == result[len(result) - 1 - suffix]):
        suffix += 1
    assert prefix + suffix == len(original), "the editor's text was changed, not added to"
    return prefix, result[prefix:len(result) - suffix]


def _json_positions(track: dict[str, Any]) -> dict[int, tuple[float, float]]:
    """Index -> (record start, length) of each child, summed from the JSON durations."""
    at, found = 0.0, {}
    for index, child in enumerate(track["children"]):
        duration = child["source_range"]["duration"]
        length = duration["value"]
        if child["OTIO_SCHEMA"].startswith("Transition"):
            continue
        found[index] = (at, length)
        at += length
    return found


def _check(original: str, result: str, results: list[Any], rate: Fraction) -> str:
    at, piece = _inserted(original, result)
    assert original[at:].lstrip().startswith("]")  # after the last track, before the "]"
    before, after = json.loads(original), json.loads(result)
    kept = len(before["tracks"]["children"])
    assert after["tracks"]["children"][:kept] == before["tracks"]["children"]
    assert {k: v for k, v in after.items() if k != "tracks"} == {
        k: v for k, v in before.items() if k != "tracks"}
    assert {k: v for k, v in after["tracks"].items() if k != "children"} == {
        k: v for k, v in before["tracks"].items() if k != "children"}

    video = [t for t in before["tracks"]["children"] if t["kind"] == "Video"]
    jobs = {r.job_id: r for r in results}
    seen = set()
    for track in after["tracks"]["children"][kept:]:
        positions = _json_positions(track)
        for index, child in enumerate(track["children"]):
            meta = child["metadata"].get("kling_bridge", {})
            if child["OTIO_SCHEMA"] != "Clip.2" or meta.get("kind") != "restyle":
                continue
            ref = jobs[meta["job_id"]].clip
            source_track = video[ref.track_index]
            sources = _json_positions(source_track)
            named = [sources[i] for i, c in enumerate(source_track["children"])
                     if c.get("name") == ref.name and i in sources]
            assert positions[index] in named, (ref.name, positions[index], named)
            seen.add(meta["job_id"])
    assert seen == {j for j, r in jobs.items() if r.kind == "restyle"}

    again = otio.adapters.otio_json.read_from_string(result)
    for clip in new_clips(again):
        job = jobs[clip.metadata["kling_bridge"]["job_id"]]
        start, length = record_range(clip, rate)
        assert start == job.clip.record_start
        if job.kind == "restyle":
            assert length == job.clip.record_duration
    return piece


@pytest.mark.parametrize(("label", "zero"), CASES)
def test_tracks_spliced_into_the_document(label: str, zero: bool) -> None:
    built = build(label, from_zero=zero)
    original = JSON(built.timeline)
    read = read_timeline_text(original, check_media=False)
    selection = select(read.timeline, Criteria(all_clips=True, handles=6))
    results = results_for(selection, handle_before=True) + results_for(
        selection, look="anime", variant=1)
    result = splice_otio(original, results).decode("utf-8")
    piece = _check(original, result, results, exact_rate(built.rate))
    check_golden(f"otio_{label}_{'00' if zero else '01'}h.otio.inserted", piece + "\n")


@pytest.mark.parametrize("name", ["blender53_resolve_metadata.otio", "kdenlive_tracks_clips.otio"])
def test_real_exports(name: str, samples: Path) -> None:
    path = samples / name
    original = path.read_text(encoding="utf-8")
    read = read_timeline(path, check_media=False)
    selection = select(read.timeline, Criteria(all_clips=True))
    results = results_for(selection, out_dir="/Volumes/Out")
    result = splice_otio(original, results).decode("utf-8")
    rate = exact_rate(read.timeline.tracks[0][0].source_range.duration.rate)
    piece = _check(original, result, results, rate)
    check_golden(f"{name}.inserted", piece + "\n")
    added = new_clips(otio.adapters.otio_json.read_from_string(result))
    urls = {c.media_reference.target_url for c in added}
    # Resolve and Kdenlive write bare paths (/Volumes/x.mov, red.mp4): so do we
    assert urls and all(u.startswith("/Volumes/Out/") for u in urls)


def test_kdenlive_relative_media_found_from_the_timeline_folder(samples: Path,
                                                               tmp_path: Path) -> None:
    """Kdenlive writes ``red.mp4``: the file beside the timeline, wherever the bridge runs."""
    read = read_timeline(samples / "kdenlive_tracks_clips.otio", check_media=False)
    urls = {c.media_reference.target_url for c in read.timeline.find_clips()}
    assert urls == {str(samples / n) for n in ("red.mp4", "blue.mp4", "yellow.mp4")}
    assert any("relative media" in note for note in read.notes)
    copy = tmp_path / "project" / "cut.otio"
    copy.parent.mkdir()
    copy.write_text((samples / "kdenlive_tracks_clips.otio").read_text())
    (copy.parent / "red.mp4").write_bytes(b"")
    moved = read_timeline(copy)
    missing = {i.item for i in moved.issues}
    assert "Red" not in missing and {"Blue", "Yellow"} <= missing


def test_new_tracks_are_what_otio_writes_for_the_same_objects() -> None:
    """The JSON built without OTIO's objects equals OTIO's own serialization of the same
    tracks built with its constructors: every key, value and schema version."""
    built = build("23.976")
    selection = select(built.timeline, Criteria(all_clips=True, handles=6))
    results = results_for(selection, handle_before=True)
    from dataclasses import replace

    results[0] = replace(results[0], timecode="01:00:10:00")
    ours = json.loads(json.dumps(track_documents(results, url_style(built.timeline))))
    theirs = [json.loads(JSON(t)) for t in reference.new_tracks(built.timeline, results)]
    assert ours == theirs
    versions = {f"{name}.{version}" for name, version in otio.core.type_version_map().items()}
    assert set(SCHEMAS.values()) <= versions | {"TimeRange.1", "RationalTime.1"}


def test_documents_in_another_key_order_take_the_general_route() -> None:
    built = build("25")
    compact = json.dumps(json.loads(JSON(built.timeline)), sort_keys=True)
    read = read_timeline_text(compact, check_media=False)
    results = results_for(select(read.timeline, Criteria(all_clips=True)))
    result = splice_otio(compact, results).decode("utf-8")
    _check(compact, result, results, Fraction(25))


def test_a_bin_is_not_spliced() -> None:
    with pytest.raises(TimelineError, match="no tracks"):
        splice_otio('{"OTIO_SCHEMA": "SerializableCollection.1", "children": []}',
                    results_for(select(build("24").timeline, Criteria(all_clips=True))))



def test_a_document_beyond_ascii_is_spliced_at_the_same_place() -> None:
    """Names with accents and emoji (two- and four-byte UTF-8): the insertion, found in the
    text, lands at the same place in the bytes, and the editor's bytes stay as they were."""
    built = build("25")
    for n, clip in enumerate(built.timeline.find_clips()):
        clip.name = f"Café {n} 🎬 Szène"
    built.timeline.tracks[0].name = "Bild ① — Überblick"
    original = JSON(built.timeline)
    assert not original.isascii()
    read = read_timeline_text(original, check_media=False)
    results = results_for(select(read.timeline, Criteria(all_clips=True)))
    data = splice_otio(original, results)
    at, piece = _inserted(original, data.decode("utf-8"))
    _check(original, data.decode("utf-8"), results, Fraction(25))
    assert data == (original[:at] + piece + original[at:]).encode("utf-8")
