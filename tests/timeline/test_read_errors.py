"""Bad timelines get errors naming the file, the item and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.formats import read_timeline, read_timeline_text

GOOD_OTIO = """{"OTIO_SCHEMA": "Timeline.1", "name": "cut", "tracks": {"OTIO_SCHEMA": "Stack.1",
 "children": [{"OTIO_SCHEMA": "Track.1", "name": "V1", "kind": "Video", "children": [
   {"OTIO_SCHEMA": "Clip.2", "name": "shot 010", "source_range": {"OTIO_SCHEMA": "TimeRange.1",
     "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 24, "value": 0},
     "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 24, "value": 48}},
    "media_references": {"DEFAULT_MEDIA": {"OTIO_SCHEMA": "ExternalReference.1",
      "target_url": "/nowhere/shot 010.mov"}},
    "active_media_reference_key": "DEFAULT_MEDIA"}]}]}}"""


def _error(path: Path) -> TimelineError:
    with pytest.raises(TimelineError) as caught:
        read_timeline(path)
    return caught.value


def test_malformed_json_names_file_and_position(tmp_path: Path) -> None:
    bad = tmp_path / "cut.otio"
    bad.write_text(GOOD_OTIO[:200])
    error = _error(bad)
    assert str(bad) in str(error)
    assert "not valid JSON" in str(error) and "line" in str(error)
    assert error.hint


def test_malformed_xml_names_file_and_line(samples: Path, tmp_path: Path) -> None:
    text = (samples / "premiere_example.xml").read_text()
    bad = tmp_path / "premiere cut.xml"
    bad.write_text(text[: len(text) // 2])
    error = _error(bad)
    assert str(bad) in str(error)
    assert "not well-formed XML (line" in str(error)


def test_malformed_fcpxml(samples: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.fcpxml"
    bad.write_text((samples / "fcpx_project.fcpxml").read_text().replace("</spine>", "", 1))
    assert "not well-formed XML" in str(_error(bad))


def test_unsupported_schema_names_the_item(tmp_path: Path) -> None:
    bad = tmp_path / "future.otio"
    bad.write_text(GOOD_OTIO.replace('"Clip.2"', '"HoloClip.1"'))
    error = _error(bad)
    assert error.item == "shot 010"
    assert "HoloClip.1" in str(error) and str(bad) in str(error)
    newer = tmp_path / "newer.otio"
    newer.write_text(GOOD_OTIO.replace('"Clip.2"', '"Clip.9"'))
    assert "'Clip.9'" in str(_error(newer))


def test_json_that_is_not_otio(tmp_path: Path) -> None:
    bad = tmp_path / "cut.otio"
    bad.write_text('{"clips": []}')
    assert "not an OpenTimelineIO document" in str(_error(bad))


def test_a_bin_is_not_a_timeline(tmp_path: Path) -> None:
    bad = tmp_path / "bin.otio"
    bad.write_text('{"OTIO_SCHEMA": "SerializableCollection.1", "name": "bin", "children": []}')
    assert "holds no timeline" in str(_error(bad))


def test_edl_with_overlapping_events_keeps_the_rest(tmp_path: Path) -> None:
    """An event overlapping the one before it is left out with a reason, not the reel."""
    odd = tmp_path / "cut.edl"
    odd.write_text(
        "TITLE: overlap\n"
        "001  A001 V C 01:00:00:00 01:00:02:00 01:00:00:00 01:00:02:00\n"
        "002  A002 V C 01:00:00:00 01:00:02:00 01:00:01:00 01:00:03:00\n"
        "003  A003 V C 01:00:00:00 01:00:01:00 01:00:03:00 01:00:04:00\n"
    )
    read = read_timeline(odd, check_media=False)
    assert [c.name for c in read.timeline.find_clips()] == ["001", "003"]
    (issue,) = read.issues
    assert "event 002" in issue.reason and "overlap" in issue.reason


def test_missing_file_unknown_format_and_empty_file(tmp_path: Path) -> None:
    assert "file not found" in str(_error(tmp_path / "gone.otio"))
    odd = tmp_path / "cut.xyz"
    odd.write_text("hello")
    assert "cannot tell the timeline format" in str(_error(odd))
    empty = tmp_path / "empty.otio"
    empty.write_text("")
    assert "empty" in str(_error(empty))


def test_missing_media_is_an_issue_not_an_error(tmp_path: Path) -> None:
    good = tmp_path / "cut.otio"
    good.write_text(GOOD_OTIO)
    result = read_timeline(good)
    assert [(i.item, i.track) for i in result.issues] == [("shot 010", "V1")]
    assert "/nowhere/shot 010.mov" in result.issues[0].reason


def test_unnamed_clips_with_remote_or_missing_media_are_named_unnamed() -> None:
    remote = (GOOD_OTIO.replace('"name": "shot 010"', '"name": ""')
              .replace("/nowhere/shot 010.mov", "https://cdn.example.com/shot.mov"))
    (issue,) = read_timeline_text(remote).issues
    assert (issue.item, issue.track) == ("<unnamed>", "V1")
    assert issue.reason.startswith("media is not a local file (https://cdn.example.com/shot.mov)")
    missing = GOOD_OTIO.replace('"name": "shot 010"', '"name": ""')
    assert [i.item for i in read_timeline_text(missing).issues] == ["<unnamed>"]


def test_text_body_errors_name_the_body() -> None:
    with pytest.raises(TimelineError) as caught:
        read_timeline_text("{nope", name="POST /v1/restyle body")
    assert str(caught.value).startswith("POST /v1/restyle body: not valid JSON")
    with pytest.raises(TimelineError, match="binary or bundle"):
        read_timeline_text("x", "otioz")
    with pytest.raises(TimelineError, match="unsupported timeline format"):
        read_timeline_text("x", "final-draft")


def test_error_to_dict_for_api_bodies(tmp_path: Path) -> None:
    bad = tmp_path / "cut.otio"
    bad.write_text("[")
    data = _error(bad).to_dict()
    assert data["file"] == str(bad) and data["hint"] and str(data["message"]).startswith(str(bad))


def test_an_adapter_crash_is_explained_not_repeated(tmp_path: Path, samples: Path) -> None:
    """A clip item without <start> makes the FCP 7 reader fail with "'NoneType' object has
    no attribute 'text'": the editor is told what it means instead."""
    text = (samples / "premiere_example.xml").read_text()
    broken = tmp_path / "cut.xml"
    broken.write_text(text.replace("<start>536</start>", "", 1))
    error = _error(broken)
    message = str(error)
    assert "NoneType" not in message and "attribute" not in message
    assert str(broken) in message and "FCP 7 XML (Premiere, Resolve)" in message
    assert "export the timeline from the editor again" in message


def test_an_odd_event_does_not_refuse_the_reel(samples: Path) -> None:
    """timecode_mismatch.edl: events whose source and record lengths differ are left out,
    each named with its reason; the others are read."""
    read = read_timeline(samples / "timecode_mismatch.edl", check_media=False)
    names = [c.name for c in read.timeline.find_clips()]
    left_out = {i.item: i.reason for i in read.issues}
    assert left_out and names and not set(left_out) & set(names)
    assert all("left out" in reason and "M2" in reason for reason in left_out.values())
    assert len(names) + len(left_out) == 20


def test_relative_media_is_found_from_the_timeline_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``* FROM CLIP: media/A001.mov`` means the file beside the EDL, wherever the bridge
    runs; the same text sent without a folder keeps the path as it is (and says so)."""
    folder = tmp_path / "project"
    (folder / "media").mkdir(parents=True)
    (folder / "media" / "A001.mov").write_bytes(b"")
    edl = folder / "cut.edl"
    edl.write_text("TITLE: cut\nFCM: NON-DROP FRAME\n\n"
                   "001  A001     V     C        01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00\n"
                   "* FROM CLIP NAME:  A001\n* FROM CLIP: media/A001.mov\n")
    monkeypatch.chdir(tmp_path)  # not the timeline's folder
    read = read_timeline(edl)
    (clip,) = read.timeline.find_clips()
    assert clip.media_reference.target_url == str(folder / "media" / "A001.mov")
    assert not read.issues
    sent = read_timeline_text(edl.read_text(), "cmx_3600")
    (clip,) = sent.timeline.find_clips()
    assert clip.media_reference.target_url == "media/A001.mov"
    assert sent.issues and "media/A001.mov" in sent.issues[0].reason
