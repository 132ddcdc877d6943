"""Results spliced into the editor's own FCPXML, checked element by element.

For every real export in tests/samples and every generated cut (23.976, 25, 29.97 DF and
NDF, 30 and 59.94, from 00:00:00:00 and 01:00:00:00, FCPXML 1.8 to 1.13): every clip the
selection takes is restyled (with handles), every ``kling:`` prompt becomes B-roll, and two
more B-roll placements are added (one second in, with sound; and past the end of the
primary storyline). Then, with the independent tools of :mod:`.xmltext` (own tokenizer,
own tree, own time arithmetic -- not the package's parser or layout):

- the original is in the result token for token, and removing what was inserted gives the
  original back byte for byte (so no attribute, order, whitespace, version or DOCTYPE
  changed);
- every inserted clip sits where it must: its record time, computed from its parent's and
  ancestors' offsets and starts in the XML, is its source's (restyles) or its placement
  (B-roll); it shows the source's frames (the new asset starts ``handle_before`` frames
  before them); it is on a lane above every original lane; its asset links the user's file;
- every id is unique; the result reads back with the bridge's reader with each new clip
  over its source, and OpenTimelineIO's FCPXML adapter finds every new clip in it.

What was inserted, and the jobs, are kept as golden files (``golden/fcpxml/``); a missing
golden fails. ``KLING_BRIDGE_UPDATE_GOLDENS=1`` writes them after a deliberate change.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, replace
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote

import opentimelineio as otio
import pytest

from kling_bridge.specs import ClipRef
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.fcpxml import read_fcpxml, splice_fcpxml
from kling_bridge.timeline.rates import rate_text
from kling_bridge.timeline.results import ResultClip, new_clips
from kling_bridge.timeline.selection import Criteria, Selection, select
from kling_bridge.timeline.walk import placed_items as items
from tests.timeline.conftest import GOLDEN, SAMPLES
from tests.timeline.fcpxml.cuts import Cut, all_cuts, cut_id
from tests.timeline.fcpxml.xmltext import El, align, record, seconds, time_of, tree
from tests.timeline.helpers import results_for

GOLDENS = GOLDEN / "fcpxml"
OUT = "/Users/editor/Movies/kling out"
REAL = sorted(p.name for p in SAMPLES.iterdir()
              if p.suffix in (".fcpxml", ".fcpxmld"))


def _document(name: str) -> str:
    path = SAMPLES / name
    if path.is_dir():
        path = path / "Info.fcpxml"
    return path.read_text(encoding="utf-8")


def _jobs(text: str) -> tuple[Selection, list[ResultClip], Fraction]:
    """What the lead builds from a batch: every restyle and prompt, plus two B-roll
    placements of our own (1 s in, with sound; past the end of the primary storyline)."""
    read = read_fcpxml(text)
    rate = read.layout.rate
    try:
        selection = select(read.timeline, Criteria(all_clips=True, handles=6))
    except TimelineError as exc:
        selection = Selection(skipped=[("<all>", exc.problem)])
    results = results_for(selection, handle_before=True, out_dir=OUT)
    end = max((i.start + i.duration for i in read.layout.primary), default=Fraction(0))
    second = round(rate)
    past = round(end * rate)
    for n, (frame, sound) in enumerate(((second, True), (past + second, False),
                                        (past + 3 * second, True))):
        results.append(ResultClip(
            job_id=f"extra-{n}", kind="generate", path=f"{OUT}/extra {n}.mp4",
            clip=ClipRef(clip_id=f"placement:{frame}", name=f"extra {n}", track_index=-1,
                         record_start=frame, record_duration=2 * second,
                         timeline_rate=rate_text(rate)),
            frames=48, rate="24", has_audio=sound, provider="kling", model="kling-3.0",
            prompt="a lighthouse in fog", task_id=f"task-x{n}", cost=1.0))
    return selection, results, rate


def _golden(name: str, data: dict[str, Any]) -> None:
    path = GOLDENS / f"{name}.splice.json"
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("KLING_BRIDGE_UPDATE_GOLDENS") == "1":
        GOLDENS.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden {path.name}: run with KLING_BRIDGE_UPDATE_GOLDENS=1"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text), \
        f"golden {path.name} differs"


def _summary(selection: Selection, inserted: list[Any]) -> dict[str, Any]:
    return {
        "restyles": [{"clip": asdict(ref), "source": {**asdict(src), "path": Path(src.path).name}}
                     for ref, src in selection.restyles],
        "skipped": [list(item) for item in selection.skipped],
        "generations": [asdict(g) for g in selection.generations],
        # each inserted element as written, its <md> record lines counted (the record is
        # checked field by field in test_provenance_reads_back_as_the_record)
        "inserted": [{"into": f"{i.parent.tag} #{i.parent.index} {i.parent.get('name')}",
                      "lines": [line.strip() for line in i.text.splitlines()
                                if not line.strip().startswith("<md ")],
                      "records": sum(line.strip().startswith("<md ")
                                     for line in i.text.splitlines())}
                     for i in inserted],
    }


CASES = [pytest.param(name, None, id=name) for name in REAL] + [
    pytest.param(cut_id(c), c, id=cut_id(c)) for c in all_cuts()]


@pytest.mark.parametrize(("name", "made"), CASES)
def test_splice_keeps_every_original_element_and_places_every_result(
        name: str, made: Cut | None) -> None:
    original = made.text if made else _document(name)
    selection, results, rate = _jobs(original)
    result = splice_fcpxml(original, results)

    alignment = align(original, result)  # raises when an original token is not kept
    assert alignment.stripped == original  # byte for byte once the additions are taken out
    _golden(name, _summary(selection, alignment.inserted))

    before, after = tree(original), tree(result)
    ids = [e.get("id") for e in after.iter() if e.get("id")]
    assert len(ids) == len(set(ids)), "an id is used twice"
    _check_placements(before, after, alignment.inserted, results, rate, selection)
    _check_read_back(result, results, rate)
    # where it can: it fails on some real exports as they are, and on clips connected to a
    # title or a multicam clip (Final Cut connects clips to both)
    parents = {i.parent.tag for i in alignment.inserted}
    if _stock_reads(original) and not parents & {"title", "mc-clip", "sync-clip"}:
        _check_stock_adapter(result, results, before.get("version"))


def _media_ref(source: El, root: El) -> str:
    """The asset a source shows (its own ref, or its contained or active-angle clip's)."""
    if source.tag == "asset-clip":
        return source.get("ref")
    for child in source.iter()[1:]:
        if child.tag in ("asset-clip", "video") and not child.get("lane"):
            return child.get("ref")
    if source.tag == "mc-clip":
        angle = next(s.get("angleID") for s in source.children if s.tag == "mc-source"
                     and s.get("srcEnable", "all") in ("all", "video"))
        media = next(e for e in root.iter() if e.get("id") == source.get("ref"))
        for element in media.iter():
            if element.tag == "mc-angle" and element.get("angleID") == angle:
                clips = [c for c in element.children if c.tag == "asset-clip"]
                start = time_of(source, "start")
                return next(c.get("ref") for c in clips
                            if time_of(c, "offset") <= start)
    raise AssertionError(f"no media for {source.tag}")


def _check_placements(before: El, after: El, inserted: list[Any], results: list[ResultClip],
                      rate: Fraction, selection: Selection) -> None:
    """Each new clip's place, worked out from the XML with :func:`xmltext.record`."""
    sources = {ref.clip_id: src for ref, src in selection.restyles}
    sequence = next(e for e in before.iter() if e.tag == "sequence"
                    and e.parent is not None and e.parent.tag == "project")
    top_lane = max((int(e.get("lane")) for e in sequence.iter() if e.get("lane")), default=0)
    resources = {e.get("id"): e for e in after.iter() if e.get("id")}
    by_job = {r.job_id: r for r in results}
    by_index = {e.index: e for e in before.iter()}
    placed = set()
    version = tuple(int(p) for p in before.get("version").split("."))
    for item in inserted:
        new = tree(item.text)
        if new.tag in ("asset", "format"):
            assert item.parent.tag == "resources"
            continue
        if new.tag == "gap":  # B-roll past the end: one gap appended to the primary storyline
            assert item.parent.tag == "spine" and item.parent.parent.index == sequence.index
            assert time_of(new, "offset") == max(  # right after the last element
                time_of(e, "offset") + time_of(e.children[0] if e.tag == "audition" else e,
                                               "duration") for e in item.parent.children)
            origin = time_of(new, "offset") - time_of(sequence, "tcStart")
            clips = [(c, origin + time_of(c, "offset")) for c in new.children]
        else:
            assert new.tag == "asset-clip" and item.parent.tag != "spine", item.text
            clips = [(new, record(item.parent, sequence) + time_of(new, "offset")
                      - time_of(item.parent, "start"))]
        for clip, at in clips:
            placed.add(_check_clip(clip, at, by_job, resources, version, top_lane, sources,
                                   by_index, sequence, before, rate))
    assert placed == set(by_job)


def _check_clip(clip: El, at: Fraction, by_job: dict[str, ResultClip], resources: dict[str, El],
                version: tuple[int, ...], top_lane: int, sources: dict[str, Any],
                by_index: dict[int, El], sequence: El, before: El, rate: Fraction) -> str:
    md = {m.get("key"): m.get("value") for m in clip.iter() if m.tag == "md"}
    result = by_job[md["kling_bridge.job_id"]]
    note = clip.first("note")
    assert note is not None and result.job_id[-6:] in note.text
    assert int(clip.get("lane")) > top_lane
    asset = resources[clip.get("ref")]
    url = "file://" + quote(result.path)
    rep = asset.first("media-rep") if version >= (1, 9) else asset
    assert rep is not None
    src = rep.get("src")
    assert src == url and (asset.get("hasAudio") == "1") == result.has_audio
    length = seconds(clip.get("duration"))
    if result.kind == "restyle":
        source = by_index[int(result.clip.clip_id.split(":")[1])]
        assert at == record(source, sequence)  # exactly over its source
        assert length == seconds(source.get("duration"))
        source_range = sources[result.clip.clip_id]
        media_rate = Fraction(source_range.rate)
        # the rendered file's frame 0 is source frame start_frame - handle_before
        old_asset = resources[_media_ref(source, before)]
        file_start = seconds(old_asset.get("start"))
        if "uid" not in old_asset.attrs and (old_asset.get("start"), old_asset.get(
                "duration")) == (source.get("start"), source.get("duration")):
            file_start = Fraction(0)  # Resolve's asset is the clip's range; no file asked
        assert seconds(asset.get("start")) == file_start + Fraction(
            source_range.start_frame - result.handle_before) / media_rate
        shown = (seconds(clip.get("start")) - seconds(asset.get("start"))) * media_rate
        assert abs(shown - result.handle_before) <= Fraction(1, 2)
        if source.tag == "asset-clip":  # the same local time: the same frames, exactly
            assert seconds(clip.get("start")) == seconds(source.get("start", "0s"))
            # and played the same way: frame sampling, or Automatic Speed frame for frame
            # (29.97 media in 30p: record frames are media frames, so is the rendered file)
            conform = source.first("conform-rate")
            copied = clip.first("conform-rate")
            assert (copied.attrs if copied else None) == (conform.attrs if conform else None)
            if conform is not None and conform.get("scaleEnabled", "1") == "1":
                assert source_range.frame_count == round(length * rate)
        assert clip.get("srcEnable") == "video"  # the source keeps the sound
    else:
        assert at == Fraction(result.clip.record_start) / rate
        made = round(Fraction(result.frames or 0, 24) * rate)  # trimmed to what was made
        assert length * rate == min(result.clip.record_duration, made)
    assert at * rate == result.clip.record_start
    return result.job_id


def _check_read_back(text: str, results: list[ResultClip], rate: Fraction) -> None:
    """The bridge's own reader finds each new clip over its source / at its placement."""
    timeline = read_fcpxml(text).timeline
    found = {}
    for _kind, _n, _i, _track, item, start, length in items(timeline, rate):
        meta = item.metadata.get("kling_bridge", {})
        if "job_id" in meta:
            found[meta["job_id"]] = (start, length, meta["kind"])
    assert set(found) == {r.job_id for r in results}
    for result in results:
        start, length, kind = found[result.job_id]
        assert (start, kind) == (result.clip.record_start, result.kind)
        if result.kind == "restyle":
            assert length == result.clip.record_duration
    assert len(new_clips(timeline)) == len(results)


def _stock_reads(text: str) -> bool:
    try:
        otio.adapters.read_from_string(text, "fcpx_xml")
    except (AttributeError, KeyError, ValueError, TypeError, IndexError):
        return False
    return True


def _check_stock_adapter(text: str, results: list[ResultClip], version: str) -> None:
    """OpenTimelineIO's FCPXML adapter reads the result and finds every new clip (their
    lengths it gets wrong whenever a clip names a format of another rate, and from 1.9 on it
    cannot find media in media-rep, so the media check is for 1.8)."""
    loaded = otio.adapters.read_from_string(text, "fcpx_xml")
    timelines = ([loaded] if isinstance(loaded, otio.schema.Timeline) else
                 list(loaded.find_children(descended_from_type=otio.schema.Timeline)))
    clips = [c for c in timelines[0].find_clips()
             if c.name.endswith("]") or c.name.startswith(("extra", "rain", "aerial", "B-roll"))]
    names = sorted(c.name for c in clips)
    wanted = sorted(f"{r.clip.name} [{r.track_label}]" if r.kind == "restyle" else r.clip.name
                    for r in results)
    assert [n for n in wanted if n not in names] == []
    if version == "1.8":
        urls = {getattr(c.media_reference, "target_url", "") for c in clips}
        assert {"file://" + quote(r.path) for r in results} <= urls


def test_a_result_for_another_document_is_refused_by_name() -> None:
    text = all_cuts()[0].text
    _selection, results, _rate = _jobs(text)
    moved = replace(results[0], clip=replace(results[0].clip, record_start=5))
    with pytest.raises(TimelineError) as caught:
        splice_fcpxml(text, [moved])
    assert caught.value.item == "A001" and "frame" in caught.value.problem
    gone = replace(results[0], clip=replace(results[0].clip, clip_id="fcpxml:99999",
                                            record_start=7))
    with pytest.raises(TimelineError, match="not in this document"):
        splice_fcpxml(text, [gone])


def test_a_render_shorter_than_its_source_is_refused() -> None:
    text = all_cuts()[0].text
    _selection, results, _rate = _jobs(text)
    short = replace(results[0], frames=10)
    with pytest.raises(TimelineError, match="shorter than its source"):
        splice_fcpxml(text, [short])


def test_new_ids_avoid_every_existing_id() -> None:
    """Ids taken anywhere (not only r1..rN in resources: text-style-def ids too)."""
    text = all_cuts()[0].text.replace('id="ts1"', 'id="r9"').replace('ref="ts1"', 'ref="r9"')
    _selection, results, _rate = _jobs(text)
    result = splice_fcpxml(text, results)
    ids = [e.get("id") for e in tree(result).iter() if e.get("id")]
    assert len(ids) == len(set(ids)) and "r9" in ids


def test_provenance_reads_back_as_the_record() -> None:
    text = all_cuts()[3].text
    _selection, results, _rate = _jobs(text)
    again = read_fcpxml(splice_fcpxml(text, results)).timeline
    clip = next(c for c in new_clips(again) if c.metadata["kling_bridge"]["kind"] == "restyle")
    meta = dict(clip.metadata["kling_bridge"])
    result = next(r for r in results if r.job_id == meta["job_id"])
    assert {k: meta[k] for k in result.provenance() if result.provenance()[k] is not None} == {
        k: v for k, v in result.provenance().items() if v is not None}
    note = clip.metadata["fcpxml"]["note"]
    assert note.startswith("Draft look · film-noir · draft · job ")


@pytest.mark.parametrize("spelling", ["crlf", "bom", "single quotes", "space before slash"])
def test_documents_spelled_differently_come_back_unchanged(spelling: str) -> None:
    """Windows line ends, a byte-order mark, single-quoted attributes, ``<x a="1" />``."""
    text = all_cuts()[1].text
    if spelling == "crlf":
        text = text.replace("\n", "\r\n")
    elif spelling == "bom":
        text = "\ufeff" + text
    elif spelling == "single quotes":
        text = re.sub(r'="([^"\']*)"', r"='\1'", text.split("\n", 1)[1])
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + text
    else:
        text = text.replace('"/>', '" />')
    _selection, results, rate = _jobs(text)
    result = splice_fcpxml(text, results)
    alignment = align(text.lstrip("\ufeff"), result.lstrip("\ufeff"))
    assert alignment.stripped == text.lstrip("\ufeff")
    assert result.startswith("\ufeff") == text.startswith("\ufeff")
    if spelling == "crlf":
        assert "\n" not in result.replace("\r\n", "")  # new lines end the document's way
    _check_read_back(result, results, rate)
