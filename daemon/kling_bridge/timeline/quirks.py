"""What each editor and adapter gets wrong on the way in, put right at the edge.

Reading (:func:`normalise`, on a timeline the reader owns, idempotent so OTIO's own
``post_adapter_read`` hook and our reader can both run it):

- rates snapped to the SMPTE rate they stand for (``23.976`` -> ``24000/1001``) without
  changing any frame number;
- an EDL's record start (the adapter hides it as a negative track offset that OTIO's range
  maths then refuses) becomes the timeline's ``global_start_time``;
- provenance that travelled through a format without free metadata (a marker, an EDL
  comment, an AAF user comment, an FCP 7 log note: see :mod:`.provenance`) is lifted back
  into ``metadata["kling_bridge"]``;
- FCP 7 XML clips and tracks the editor switched off (``<enabled>FALSE</enabled>``, which
  the adapter keeps only as metadata) are disabled, so selection skips them with a reason;
  FCP 7 marker comments (Premiere's marker notes) become the markers' comments.

The way out is :mod:`.writeback`.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import opentimelineio as otio

from kling_bridge.timeline import provenance
from kling_bridge.timeline.errors import ClipIssue
from kling_bridge.timeline.paths import (
    is_bare_path,
    is_windows_path,
    path_from_url,
    url_from_path,
)
from kling_bridge.timeline.rates import (
    exact_rate,
    rational,
    snap_rate,
)
from kling_bridge.timeline.walk import metadata_get

KEY = "kling_bridge"  # metadata namespace and provenance marker name
EDL_COMMENT = "KLING_BRIDGE "  # before 0.2: a JSON record (still read)
EDL_NOTE = "KLING: "  # ``* KLING: Kling O3 · film-noir · draft · job j1a2…``
EDL_RECORD = "KLING RECORD: "  # ``* KLING RECORD: job_id: j1a2...; provider: kling; ...``
AAF_NOTE = "Kling"  # AAF user comments (Avid bin columns)
AAF_RECORD = "Kling record"
_TC = re.compile(r"\b\d{2}:\d{2}:\d{2}[:;]\d{2}\b")

# --------------------------------------------------------------------------- reading


def guess_edl_rate(text: str) -> float:
    """EDLs do not record their rate: drop-frame says 29.97, frame fields above 23 say more.

    A 24 fps guess for an EDL whose frame numbers never pass 23 is the adapter's own default;
    pass the rate explicitly when the EDL is 25 or 30 fps but short.
    """
    if re.search(r"^FCM:\s*DROP FRAME", text, re.MULTILINE) or re.search(
        r"\d{2}:\d{2}:\d{2};\d{2}", text
    ):
        return 30000 / 1001
    highest = 0
    for line in text.splitlines():
        if line[:1].isdigit():
            for tc in _TC.findall(line):
                highest = max(highest, int(tc[-2:]))
    if highest >= 30:
        return 60.0
    if highest >= 25:
        return 30.0
    if highest == 24:
        return 25.0
    return 24.0


def clips_to_timeline(clips: Iterable[otio.schema.Clip], name: str) -> otio.schema.Timeline:
    """An ALE (a bin, not a cut) as a one-track timeline of its clips end to end."""
    timeline = otio.schema.Timeline(name=name or "clips")
    track = otio.schema.Track(name="Video 1", kind=otio.schema.TrackKind.Video)
    for clip in clips:
        track.append(copy.deepcopy(clip))
    timeline.tracks.append(track)
    return timeline


def unknown_schemas(document: Any) -> list[tuple[str, str]]:
    """(item name, "Schema.N") of objects in parsed OTIO JSON this OTIO cannot load.

    OTIO itself only says "type mismatch ... UnknownSchema" or "unsupported schema version"
    without naming the item, so the JSON is checked first.
    """
    known = dict(otio.core.type_version_map())
    known.update({"RationalTime": 1, "TimeRange": 1, "TimeTransform": 1, "Color": 1})
    found: list[tuple[str, str]] = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            schema = node.get("OTIO_SCHEMA")
            if isinstance(schema, str):
                name, _, version = schema.rpartition(".")
                if name not in known or (version.isdigit() and int(version) > known[name]):
                    found.append((str(node.get("name", "")), schema))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def normalise(
    timeline: otio.schema.Timeline,
    fmt: str | None = None,
    *,
    drop_frame: bool | None = None,
    snap: bool = True,
    carriers: bool = True,
) -> list[str]:
    """Normalise a freshly read timeline in place; returns notes on what was assumed.

    ``drop_frame`` is what the source file said about its timecode (EDL ``FCM`` line, FCP
    XML ``displayformat``); it is kept in ``metadata["kling_bridge"]`` for the writers.
    ``snap=False`` skips the rate walk when the reader already knows every rate is exact;
    ``carriers=False`` skips looking for provenance in markers and comments when the
    document's text shows it holds none (:func:`may_carry_provenance`).
    """
    notes: list[str] = []
    if drop_frame is not None:
        meta = dict(timeline.metadata.get(KEY, {}))
        meta["drop_frame"] = drop_frame
        timeline.metadata[KEY] = meta
    if fmt in (None, "fcp_xml"):
        if _fcp_switched_off(timeline):
            notes.append("clips or tracks switched off in the editor are left out")
        _fcp_marker_comments(timeline)
    if snap and _snap_rates(timeline):
        notes.append("frame rates snapped to exact SMPTE rates")
    if _edl_offsets_to_start(timeline):
        notes.append("record start moved from the EDL's track offset to the timeline start")
    if carriers:  # looked for in every format when the hook cannot say which one it read
        _lift_carriers(timeline, fmt)
    if "Resolve_OTIO" in timeline.metadata:
        notes.append("DaVinci Resolve OTIO export (bare media paths, 01:00:00:00 start)")
    return notes


def _lift_carriers(timeline: otio.schema.Timeline, fmt: str | None) -> None:
    """Provenance kept in what a format keeps (see :mod:`.provenance`) back to metadata."""
    if fmt in (None, "cmx_3600"):
        _lift_edl_comments(timeline)
    if fmt in (None, "AAF"):
        _lift_aaf_comments(timeline)
    if fmt in (None, "fcp_xml"):
        _lift_log_notes(timeline)
    if fmt not in ("otio_json", "otioz", "otiod"):  # OTIO's own formats keep metadata
        _lift_provenance_markers(timeline)


def may_carry_provenance(text: str) -> bool:
    """Whether a document's text can hold a record the bridge wrote: every record names its
    job (``job_id: ...`` in a marker or comment, ``"job_id"`` in an older JSON record,
    ``kling_bridge.job_id`` in FCPXML metadata), so one look at the text answers for
    thousands of markers."""
    return "job_id" in text


def relative_media_from(timeline: otio.schema.Timeline, folder: str) -> int:
    """Media paths written relative to the timeline file (``media/A001.mov``) made absolute
    from ``folder`` -- the timeline's folder, not wherever the bridge happens to run.
    Returns how many references changed."""
    base = folder.replace("\\", "/")
    changed = 0
    for clip in timeline.find_clips():
        url = getattr(clip.media_reference, "target_url", "")
        local = path_from_url(url) if url else None
        if not local or _absolute(local):
            continue  # the usual case: one look at the active reference
        refs = clip.media_references()
        for ref in refs.values():
            url = getattr(ref, "target_url", "")
            local = path_from_url(url) if url else None
            if not local or _absolute(local):
                continue
            joined = posixpath.normpath(posixpath.join(base, local))
            ref.target_url = joined if is_bare_path(url) else url_from_path(joined)
            changed += 1
        clip.set_media_references(refs, clip.active_media_reference_key)
    return changed


def _absolute(path: str) -> bool:
    return path.startswith("/") or is_windows_path(path)


def media_issues(
    timeline: otio.schema.Timeline, exists: Callable[[str], bool]
) -> list[ClipIssue]:
    """Clips whose media cannot be found on this machine (reported, never fatal), each
    with the name of the track it is on.

    Every clip is asked for its media, and a file missing from this machine is the usual
    case for a cut sent from another (every clip of ``bench/timeline.py``'s), so the loop
    keeps to what each clip needs: a URL looked up once however many clips share it, and
    the track's name from the walk (:func:`_clips_on_tracks`) rather than a climb up
    ``parent()`` per clip, and a folder missing from this machine answers for every file in
    it (:func:`_found`: one look per folder instead of one per file)."""
    issues: list[ClipIssue] = []
    seen: dict[str, tuple[str | None, bool]] = {}  # url -> (path, exists): media repeats
    folders: dict[str, bool] = {}
    for clip, track in _clips_on_tracks(timeline):
        ref = clip.media_reference
        url = getattr(ref, "target_url", None)
        if url is None:  # not a file: offline, a generator, an image sequence
            if isinstance(ref, otio.schema.MissingReference) or ref is None:
                issues.append(_issue(clip, track, "offline: the editor exported no media "
                                     "path for it; relink it before exporting"))
            continue
        if not url:
            continue
        if url not in seen:
            local = path_from_url(url)
            seen[url] = (local, local is not None and _found(local, exists, folders))
        path, found = seen[url]
        if path is None:
            issues.append(_issue(clip, track, f"media is not a local file ({url}); download "
                                 "it and relink"))
        elif not found:
            issues.append(_issue(clip, track, f"media not found at {path}; relink it or put "
                                 "the file there"))
    return issues


def _issue(clip: Any, track: str, reason: str) -> ClipIssue:
    """An issue under the clip's name, on its track (climbed to when the walk did not say)."""
    return ClipIssue(clip.name or "<unnamed>", reason, track or _track_name(clip))


def _found(path: str, exists: Callable[[str], bool], folders: dict[str, bool]) -> bool:
    """``exists(path)``, answered without asking when its folder is missing (a cut from
    another machine: a few folders, thousands of files). ``folders`` remembers each folder's
    answer. A path resolves through its folder, so a missing folder holds no file."""
    folder = path.rpartition("/")[0]  # local paths use forward slashes (see .paths)
    if not folder:  # a file at the root, or a bare name
        return exists(path)
    there = folders.get(folder)
    if there is None:
        there = folders[folder] = exists(folder)
    return there and exists(path)


def _track_name(item: Any) -> str:
    """The name of the track holding ``item`` (the nearest, for a clip in a compound)."""
    parent = item.parent()
    while parent is not None and not isinstance(parent, otio.schema.Track):
        parent = parent.parent()
    return str(parent.name) if parent is not None else ""


def _clips_on_tracks(timeline: otio.schema.Timeline) -> Iterator[tuple[Any, str]]:
    """Every clip, in ``find_clips`` order, with the name of its track when the walk knows
    it (a clip straight on a top-level track; "" for one nested deeper).

    A track that holds no compound (nearly every one) gives its clips in one call, without
    a Python object made for each of its gaps and transitions."""
    composition = otio.core.Composition
    for child in timeline.tracks:
        if isinstance(child, otio.schema.Track):
            name = str(child.name)
            if not child.find_children(descended_from_type=composition, shallow_search=True):
                yield from ((clip, name) for clip in child.find_clips(shallow_search=True))
                continue
            for item in child:
                if isinstance(item, otio.schema.Clip):
                    yield item, name
                elif isinstance(item, composition):
                    yield from ((clip, "") for clip in item.find_clips())
        elif isinstance(child, otio.schema.Clip):
            yield child, ""
        elif isinstance(child, composition):
            yield from ((clip, "") for clip in child.find_clips())


def _walk(root: Any) -> Iterator[Any]:
    yield root
    yield from root.find_children()


def _references(item: Any) -> list[Any]:
    if isinstance(item, otio.schema.Clip):
        return list(item.media_references().values())
    return []


def _snap_time(time: otio.opentime.RationalTime) -> otio.opentime.RationalTime | None:
    snapped = snap_rate(time.rate)
    if snapped == time.rate:
        return None
    return otio.opentime.RationalTime(time.value, snapped)


def _snap_range(rng: otio.opentime.TimeRange | None) -> otio.opentime.TimeRange | None:
    if rng is None:
        return None
    start, duration = _snap_time(rng.start_time), _snap_time(rng.duration)
    if start is None and duration is None:
        return None
    return otio.opentime.TimeRange(start or rng.start_time, duration or rng.duration)


def _snap_rates(timeline: otio.schema.Timeline) -> bool:
    changed = False
    if timeline.global_start_time is not None:
        start = _snap_time(timeline.global_start_time)
        if start is not None:
            timeline.global_start_time, changed = start, True
    for item in _walk(timeline.tracks):
        if isinstance(item, otio.schema.Transition):
            for attr in ("in_offset", "out_offset"):
                snapped = _snap_time(getattr(item, attr))
                if snapped is not None:
                    setattr(item, attr, snapped)
                    changed = True
            continue
        rng = _snap_range(item.source_range)
        if rng is not None:
            item.source_range, changed = rng, True
        for marker in item.markers[:]:
            mrng = _snap_range(marker.marked_range)
            if mrng is not None:
                marker.marked_range, changed = mrng, True
        for ref in _references(item):
            arng = _snap_range(ref.available_range)
            if arng is not None:
                ref.available_range, changed = arng, True
    return changed


def _edl_offsets_to_start(timeline: otio.schema.Timeline) -> bool:
    """Tracks with a negative source start (the EDL adapter's record-in) -> global start."""
    tracks = [t for t in timeline.tracks if t.source_range is not None
              and t.source_range.start_time.value < 0]
    if not tracks:
        return False
    rate = exact_rate(tracks[0].source_range.start_time.rate)
    starts = {id(t): -round(t.source_range.start_time.rescaled_to(float(rate)).value)
              for t in tracks}
    first = min(starts.values())
    for track in tracks:
        track.source_range = None
        lead = starts[id(track)] - first
        if lead > 0:
            track.insert(0, otio.schema.Gap(source_range=otio.opentime.TimeRange(
                rational(0, rate), rational(lead, rate))))
    if timeline.global_start_time is None:
        timeline.global_start_time = rational(first, rate)
    return True


def _fcp_switched_off(timeline: otio.schema.Timeline) -> bool:
    """``<enabled>FALSE</enabled>`` on FCP 7 clip items and tracks -> ``enabled = False``."""
    found = False
    for track in timeline.tracks:
        if _fcp_false(track):
            track.enabled = False
            found = True
        if isinstance(track, otio.core.Composition):
            for item in track.find_children():
                if _fcp_false(item):
                    item.enabled = False
                    found = True
    return found


def _fcp_marker_comments(timeline: otio.schema.Timeline) -> None:
    """A marker's ``<comment>`` (where Premiere keeps its note, and an editor writes
    ``kling: ...``) is only metadata to the adapter: it becomes the marker's comment."""
    for holder in [timeline.tracks, *timeline.tracks.find_children()]:
        if not isinstance(holder, otio.core.Item):
            continue  # a transition has no markers
        for marker in holder.markers[:]:
            fcp = metadata_get(marker.metadata, "fcp_xml")
            comment = fcp.get("comment") if isinstance(fcp, Mapping) else None
            if isinstance(comment, str) and comment and not marker.comment:
                marker.comment = comment


def _fcp_false(item: Any) -> bool:
    fcp = metadata_get(getattr(item, "metadata", None), "fcp_xml")
    value = fcp.get("enabled") if isinstance(fcp, Mapping) else None
    return isinstance(value, str) and value.strip().upper() == "FALSE"


def _lift_log_notes(timeline: otio.schema.Timeline) -> None:
    """The record the FCP 7 splice writes in a new clip item's ``<logginginfo><lognote>``."""
    for clip in timeline.find_clips():
        fcp = metadata_get(clip.metadata, "fcp_xml")
        logging = fcp.get("logginginfo") if isinstance(fcp, Mapping) else None
        if not isinstance(logging, Mapping):
            continue
        text = logging.get("lognote")
        if isinstance(text, str) and text:
            _merge_record(clip, provenance.parse_record(text), logging.get("description"))


def _lift_edl_comments(timeline: otio.schema.Timeline) -> None:
    for clip in timeline.find_clips():
        cmx = metadata_get(clip.metadata, "cmx_3600")
        if not cmx or not cmx.get("comments"):
            continue
        kept = []
        note = None
        for comment in cmx["comments"]:
            if comment.startswith(EDL_COMMENT):
                _merge_provenance(clip, comment[len(EDL_COMMENT):])
            elif comment.startswith(EDL_RECORD):
                _merge_record(clip, provenance.parse_record(comment[len(EDL_RECORD):]), note)
            elif comment.startswith(EDL_NOTE):
                note = comment[len(EDL_NOTE):].strip()
            else:
                kept.append(comment)
        cmx["comments"] = kept


def _lift_aaf_comments(timeline: otio.schema.Timeline) -> None:
    for clip in timeline.find_clips():
        aaf = metadata_get(clip.metadata, "AAF")
        comments = aaf.get("UserComments") if isinstance(aaf, Mapping) else None
        if not isinstance(comments, Mapping):
            continue
        if AAF_RECORD in comments:
            _merge_record(clip, provenance.parse_record(str(comments[AAF_RECORD])),
                          comments.get(AAF_NOTE))
        elif KEY in comments:
            _merge_provenance(clip, str(comments[KEY]))


def _lift_provenance_markers(timeline: otio.schema.Timeline) -> None:
    for item in timeline.find_children():
        markers = getattr(item, "markers", None)
        if not markers:
            continue
        for index in reversed(range(len(markers))):
            marker = markers[index]
            if marker.name.startswith(KEY):  # before 0.2: "kling_bridge {json}"
                text = marker.name[len(KEY):].strip() or marker.comment
                if _merge_provenance(item, text):
                    del markers[index]
                continue
            note, _bar, line = marker.name.partition(" | ")  # FCPXML keeps no comment
            record = provenance.parse_record(marker.comment or line)
            if record and _merge_record(item, record, note):
                del markers[index]


def _merge_record(item: Any, record: dict[str, Any], note: Any = None) -> bool:
    if not record:
        return False
    existing = dict(item.metadata.get(KEY, {}))
    existing.update(record)
    if isinstance(note, str) and note:
        existing["note"] = note
    item.metadata[KEY] = existing
    return True


def _merge_provenance(item: Any, text: str) -> bool:
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return False
    if not isinstance(data, dict):
        return False
    existing = dict(item.metadata.get(KEY, {}))
    existing.update(data)
    item.metadata[KEY] = existing
    return True
