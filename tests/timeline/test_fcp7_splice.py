"""FCP 7 XML results spliced into the editor's document, checked element by element.

For Premiere-shaped documents at 23.976, 25, 29.97 DF and NDF, 30 and 59.94 fps, starting at
00:00:00:00 and at 01:00:00:00, and for the real exports in tests/samples:

- the result is the original with whole lines inserted and nothing else (every original
  element present, unchanged, in order), at exactly two places: before the sequence's
  ``</video>`` and ``</audio>``;
- each added clip item sits where the XML says its source is (``<start>``/``<end>`` read
  from the original document, not through the reader under test), shows the rendered file
  from its own first timecode, and has new ids that collide with none;
- OpenTimelineIO's reader finds each new clip over its source and reads its provenance back;
- the inserted text equals the golden file (``KLING_BRIDGE_UPDATE_GOLDENS=1`` to write one).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import pytest

from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.fcp7 import splice_xmeml
from kling_bridge.timeline.formats import read_timeline, read_timeline_text
from kling_bridge.timeline.placement import ResultClip
from kling_bridge.timeline.results import new_clips
from kling_bridge.timeline.selection import Criteria, Selection, select
from tests.timeline.helpers import record_range
from tests.timeline.splice_checks import (
    all_ids,
    check_golden,
    defined_once,
    golden_text,
    insertions,
    results_with_timecodes,
    sequence_of,
    text_of,
)
from tests.timeline.xmeml_docs import RATES, STARTS, Doc, build

DOCS = [(label, start) for label in RATES for start in STARTS]


def _spliced(doc: Doc) -> tuple[str, list[ResultClip], Selection]:
    read = read_timeline_text(doc.text, "fcp_xml", check_media=False)
    selection = select(read.timeline, Criteria(all_clips=True))
    by_name = {s.name: s for s in doc.sources}
    timecodes = {}
    for ref, src in selection.restyles:
        source = by_name[ref.name]
        timecodes[ref.clip_id] = doc.timecode(source.file_tc + src.start_frame)
    results = results_with_timecodes(selection, timecodes)
    return splice_xmeml(doc.text, results), results, selection


@pytest.mark.parametrize(("label", "start"), DOCS)
def test_premiere_document_spliced_element_by_element(label: str, start: str) -> None:
    doc = build(label, start)
    result, results, selection = _spliced(doc)
    # only whole lines inserted, before </video> and </audio> of the sequence
    blocks = insertions(doc.text, result)
    lines = doc.text.splitlines()
    assert [lines[b.before].strip() for b in blocks] == ["</video>", "</audio>"]
    check_golden(f"{doc.name}.xml.inserted", golden_text(blocks, doc.text))

    root = ET.fromstring(result)
    original = ET.fromstring(doc.text)
    new_ids = set(all_ids(root)) - set(all_ids(original))
    assert new_ids and defined_once(root)

    sequence = sequence_of(root)
    video = sequence.findall("./media/video/track")
    audio = sequence.findall("./media/audio/track")
    assert [t.findtext("name") for t in video[2:]] == ["film-noir", "Kling B-roll"]
    assert len(audio) == 4 and [t.get("currentExplodedTrackIndex") for t in audio[2:]] == [
        "0", "1"]
    timebase, ntsc = str(doc.timebase), "TRUE" if doc.ntsc else "FALSE"

    # restyles: exactly where the XML says their sources are; disabled ones left out
    placed = {c.findtext("name", ""): c for c in video[2].findall("clipitem")}
    wanted = [s for s in doc.sources if s.enabled and s.track == 1]
    assert sorted(placed) == sorted(f"{s.name} [film-noir]" for s in wanted)
    for source in wanted:
        item = placed[f"{source.name} [film-noir]"]
        length = source.end - source.start
        assert (int(text_of(item, "start")), int(text_of(item, "end"))) == (source.start,
                                                                              source.end)
        assert (int(text_of(item, "in")), int(text_of(item, "out"))) == (0, length)
        assert (text_of(item, "rate/timebase"), text_of(item, "rate/ntsc")) == (timebase, ntsc)
        assert len(item.findall("rate")) == 1  # one <rate>, not two
        file = item.find("file")
        assert file is not None and file.get("id") in new_ids
        assert int(text_of(file, "duration")) == length
        # the rendered file keeps its source's timecode: the source's first frame
        assert int(text_of(file, "timecode/frame")) == source.file_tc + source.in_
        assert text_of(file, "timecode/displayformat") == ("DF" if doc.drop else "NDF")
        assert text_of(file, "pathurl").startswith("file://localhost/Volumes/Out/")
        assert "job: " not in text_of(item, "logginginfo/lognote")
        assert text_of(item, "logginginfo/description").startswith("Kling O3 · film-noir")

    # B-roll at its marker, picture and a stereo pair of sound, linked together
    (broll,) = video[3].findall("clipitem")
    broll_length = min(round(Fraction(5) * Fraction(doc.timebase * 1000, 1001 if doc.ntsc
                                                     else 1000)), 5 * doc.timebase)
    assert int(text_of(broll, "start")) == doc.marker_at
    assert int(text_of(broll, "end")) == doc.marker_at + broll_length
    assert text_of(broll, "file/rate/timebase") == "24"
    sound = [t.find("clipitem") for t in audio[2:]]
    for channel, sound_item in enumerate(sound, 1):
        assert sound_item is not None
        assert (text_of(sound_item, "start"), text_of(sound_item, "end")) == (
            text_of(broll, "start"), text_of(broll, "end"))
        assert text_of(sound_item, "sourcetrack/trackindex") == str(channel)
        assert sound_item.find("file").get("id") == broll.find("file").get("id")  # type: ignore
        linked = {text_of(link, "linkclipref") for link in sound_item.findall("link")}
        assert linked == {broll.get("id"), *(s.get("id") for s in sound if s is not None)}

    # OpenTimelineIO reads every new clip over its source, provenance included
    again = read_timeline_text(result, "fcp_xml", check_media=False).timeline
    rate = Fraction(doc.timebase * 1000, 1001) if doc.ntsc else Fraction(doc.timebase)
    found = {c.metadata["kling_bridge"]["job_id"]: c for c in new_clips(again)}
    assert set(found) == {r.job_id for r in results}
    for result_clip in results:
        clip = found[result_clip.job_id]
        assert record_range(clip, rate) == (result_clip.clip.record_start,
                                            result_clip.clip.record_duration
                                            if result_clip.kind == "restyle" else broll_length)
        meta = clip.metadata["kling_bridge"]
        assert meta["cost"] == result_clip.cost and meta.get("preset") == result_clip.preset
    assert len(selection.skipped) == 2  # the disabled clip and the clip on the disabled track


SAMPLES = ["premiere_example.xml", "premiere_enable_property.xml", "resolve_ftw_export.xml",
           "hiero_xml_export.xml", "premiere_empty_name_tags.xml"]


def _cut_point(transition: ET.Element) -> int:
    """Where a transition cuts, as FCP 7 XML defines it by ``<alignment>``."""
    start, end = int(text_of(transition, "start")), int(text_of(transition, "end"))
    alignment = transition.findtext("alignment", "center")
    if alignment in ("end", "end-black"):
        return end
    if alignment in ("start", "start-black"):
        return start
    return (start + end) // 2


def _xml_sources(root: ET.Element) -> set[tuple[int, str, int, int]]:
    """(video track number, name, start, end) of every clip item, an edge given as -1
    (under a transition) taken from the transition's cut point."""
    found = set()
    for number, track in enumerate(sequence_of(root).findall("./media/video/track"), 1):
        items = [e for e in track if e.tag in ("clipitem", "transitionitem", "generatoritem")]
        for index, item in enumerate(items):
            if item.tag != "clipitem":
                continue
            start, end = int(text_of(item, "start")), int(text_of(item, "end"))
            if start < 0:
                start = _cut_point(items[index - 1])
            if end < 0:
                end = _cut_point(items[index + 1])
            found.add((number, item.findtext("name") or "", start, end))
    return found


@pytest.mark.parametrize("name", SAMPLES)
def test_real_exports_spliced_element_by_element(name: str, samples: Path) -> None:
    path = samples / name
    text = path.read_text(encoding="utf-8")
    read = read_timeline(path, check_media=False)
    selection = select(read.timeline, Criteria(all_clips=True))
    results = results_with_timecodes(selection, {})
    result = splice_xmeml(text, results)
    blocks = insertions(text, result)
    assert [text.splitlines()[b.before].strip() for b in blocks] == ["</video>"]
    if len(text) < 200_000:  # the 1 MB Premiere export is checked, not kept as a golden
        check_golden(f"{name}.inserted", golden_text(blocks, text))
    root, original = ET.fromstring(result), ET.fromstring(text)
    assert defined_once(root) or not defined_once(original)
    sources = _xml_sources(original)
    tracks = len(sequence_of(original).findall("./media/video/track"))
    for track in sequence_of(root).findall("./media/video/track")[tracks:]:
        for item in track.findall("clipitem"):
            ref = next(r.clip for r in results if f"{r.clip.name} [film-noir]" == item.findtext(
                "name") and r.clip.record_start == int(text_of(item, "start")))
            source_name = item.findtext("name", "")[: -len(" [film-noir]")]
            start, end = int(text_of(item, "start")), int(text_of(item, "end"))
            assert (ref.track_index + 1, source_name, start, end) in sources
    again = read_timeline_text(result, "fcp_xml", check_media=False).timeline
    assert len(new_clips(again)) == len(results)


def test_clips_sharing_a_path_keep_their_own_files(samples: Path) -> None:
    """Premiere's two <file>s of source.mp4 (81 and 96 frames): each clip item reads its
    own, and the result keeps both elements as they were (the adapter's writer re-links
    the second clip to the first file, which is why results are spliced)."""
    path = samples / "premiere_enable_property.xml"
    read = read_timeline(path, check_media=False)
    lengths = {c.name: c.media_reference.available_range.duration.value
               for c in read.timeline.find_clips() if c.name in ("source.mp4",)}
    durations = sorted({c.media_reference.available_range.duration.value
                        for c in read.timeline.find_clips()
                        if c.media_reference.target_url.endswith("/source.mp4")})
    assert lengths and durations == [81, 96]
    text = path.read_text(encoding="utf-8")
    selection = select(read.timeline, Criteria(all_clips=True))
    result = splice_xmeml(text, results_with_timecodes(selection, {}))
    for file_id in ("file-33", "file-34"):
        start = text.index(f'<file id="{file_id}">')
        element = text[start:text.index("</file>", start)]
        assert element in result


def test_a_sequence_without_audio_gets_one_for_the_broll_sound() -> None:
    doc = build("25", "01:00:00:00")
    start = doc.text.index("\n\t\t\t<audio>\n") + 1  # the sequence's, not a file's
    end = doc.text.index("\n\t\t\t</audio>\n", start) + len("\n\t\t\t</audio>\n")
    text = doc.text[:start] + doc.text[end:]
    read = read_timeline_text(text, "fcp_xml", check_media=False)
    selection = select(read.timeline, Criteria(all_clips=True))
    result = splice_xmeml(text, results_with_timecodes(selection, {}))
    insertions(text, result)
    audio = sequence_of(ET.fromstring(result)).findall("./media/audio/track")
    assert len(audio) == 2 and all(t.find("clipitem") is not None for t in audio)


def test_declaration_encoding_and_line_endings_are_the_editors() -> None:
    doc = build("25", "00:00:00:00")
    text = doc.text.replace("\n", "\r\n").replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    read = read_timeline_text(text, "fcp_xml", check_media=False)
    selection = select(read.timeline, Criteria(all_clips=True))
    result = splice_xmeml(text, results_with_timecodes(selection, {}))
    assert result.startswith('<?xml version="1.0" encoding="ISO-8859-1"?>\r\n<!DOCTYPE xmeml>')
    assert "\n" not in result.replace("\r\n", "")
    insertions(text, result)


def test_results_at_another_rate_than_the_sequence_are_refused() -> None:
    doc = build("25", "00:00:00:00")
    read = read_timeline_text(doc.text, "fcp_xml", check_media=False)
    selection = select(read.timeline, Criteria(all_clips=True))
    results = results_with_timecodes(selection, {})
    from dataclasses import replace

    moved = [replace(r, clip=replace(r.clip, timeline_rate="24")) for r in results]
    with pytest.raises(TimelineError, match="sequence runs at 25"):
        splice_xmeml(doc.text, moved)


def test_new_ids_never_collide_with_the_documents() -> None:
    """A result spliced again (a second look on the first result) gets the next free ids."""
    doc = build("25", "00:00:00:00")
    first, _results, _selection = _spliced(doc)
    again = read_timeline_text(first, "fcp_xml", check_media=False)
    selection = select(again.timeline, Criteria(tracks=("V1",)))
    second = splice_xmeml(first, results_with_timecodes(selection, {}))
    insertions(first, second)
    root = ET.fromstring(second)
    assert defined_once(root)
    assert {"kling-file-1", "kling-file-5", "kling-file-6"} <= set(all_ids(root))
