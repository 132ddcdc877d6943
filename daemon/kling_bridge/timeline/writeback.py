"""What each adapter gets wrong on the way out, worked around on a copy before it writes.

:func:`prepare_for_write` always returns a copy (several adapters mutate what they write),
except for OTIO JSON, which needs nothing:

- bare paths (Resolve) become percent-encoded ``file:`` URLs for every format but OTIO JSON
  (and local paths for EDL comments, as Avid writes them);
- EDL: one video track, a leading gap so record timecodes start at the timeline's start,
  reel names without spaces, ``FCM`` line and non-drop timecode in :func:`finish_edl`;
- FCPXML: a leading gap matching the ``tcStart`` the exact writer adds, a primary storyline
  long enough to carry every connected clip, generators as offline clips;
- FCP 7 XML: track names and foreign generators in the shape the writer handles;
- AAF: generators as gaps, media ranges at the edit rate (``use_empty_mob_ids`` is passed
  by the writer), essence descriptors the writer can rebuild (Avid's ``MultipleDescriptor``
  made it die with ``KeyError: 'ImageAspectRatio'``, even on an unmodified file);
- ALE: the bridge's new media only, at the timeline's rate;
- provenance (a note and a ``name: value`` record, never JSON) copied into markers, EDL
  comments or AAF user comments, which those formats keep.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping

import opentimelineio as otio

from kling_bridge.timeline import provenance
from kling_bridge.timeline.paths import is_bare_path, path_from_url, url_from_path
from kling_bridge.timeline.quirks import (
    AAF_NOTE,
    AAF_RECORD,
    EDL_COMMENT,
    EDL_NOTE,
    EDL_RECORD,
    KEY,
)
from kling_bridge.timeline.rates import is_drop_frame_rate, timeline_rate

_TC = re.compile(r"\b\d{2}:\d{2}:\d{2}[:;]\d{2}\b")


def prepare_for_write(
    timeline: otio.schema.Timeline,
    fmt: str,
    *,
    video_track: int | str | None = None,
    ours: bool = True,
) -> otio.schema.Timeline:
    """A copy of ``timeline`` that ``fmt``'s adapter writes correctly (for OTIO JSON, which
    needs nothing, the timeline itself: callers must not modify the result).

    ``ours=False`` is for OTIO's own pipeline (our plugin's ``pre_adapter_write`` hook): it
    leaves the track set alone and adds no ``tcStart`` gap, since the stock writers run.
    """
    if fmt == "otio_json":
        return timeline  # lossless, and its writer does not touch what it writes
    result: otio.schema.Timeline = copy.deepcopy(timeline)
    if fmt == "cmx_3600":
        _local_paths(result)  # Avid writes "* FROM CLIP: S:\\path", not URLs
    else:
        _urls_for_adapters(result)
    if fmt in ("otioz", "otiod"):
        return result
    _provenance_to_carriers(result, fmt)
    if fmt == "cmx_3600":
        if ours:
            _single_video_track(result, video_track)
        _start_as_leading_gap(result, video_only=False)
        _safe_reel_names(result)
    elif fmt == "fcp_xml":
        _ensure_available_ranges(result)
        _fcp7_generators(result)
        _fcp7_track_names(result)
    elif fmt == "fcpx_xml":
        _fcpx_generators(result)
        _ensure_available_ranges(result)
        if ours:
            _start_as_leading_gap(result, video_only=False)
        _spine_to_the_end(result)
    elif fmt == "AAF":
        _generators_to_gaps(result)
        _ensure_available_ranges(result)
        _media_at_edit_rate(result)
        _aaf_descriptors(result)
    elif fmt == "ale":
        _bin_of_new_clips(result)
    return result


def timeline_rate_float(timeline: otio.schema.Timeline) -> float:
    return float(timeline_rate(timeline))


def drop_frame(timeline: otio.schema.Timeline) -> bool:
    """Whether timecode is drop-frame: recorded on read, else 29.97/59.94 are (as OTIO does)."""
    recorded = timeline.metadata.get(KEY, {}).get("drop_frame")
    if isinstance(recorded, bool):
        return recorded
    return is_drop_frame_rate(timeline_rate(timeline))


def finish_edl(text: str, timeline: otio.schema.Timeline) -> str:
    """Add the ``FCM`` line and, for non-drop 29.97/59.94, rewrite the timecodes.

    The adapter always writes drop-frame timecode at 29.97 (OTIO's default) and no ``FCM``
    line, so Avid would read a non-drop cut an hour and 3.6 s off.
    """
    rate = timeline_rate(timeline)
    df_rate = is_drop_frame_rate(rate)
    is_df = df_rate and drop_frame(timeline)
    if df_rate and not is_df:
        fps = float(rate)

        def ndf(match: re.Match[str]) -> str:
            frame = otio.opentime.from_timecode(match.group(0), fps)
            return str(otio.opentime.to_timecode(frame, fps, False))

        text = _TC.sub(ndf, text)
    fcm = "FCM: DROP FRAME" if is_df else "FCM: NON-DROP FRAME"
    lines = text.split("\n")
    at = 1 if lines and lines[0].startswith("TITLE:") else 0
    lines.insert(at, fcm)
    return "\n".join(lines)


def _urls_for_adapters(timeline: otio.schema.Timeline) -> None:
    for clip in timeline.find_clips():
        refs = clip.media_references()
        changed = False
        for ref in refs.values():
            url = getattr(ref, "target_url", "")
            if url and is_bare_path(url):
                ref.target_url = url_from_path(url)
                changed = True
        if changed:
            clip.set_media_references(refs, clip.active_media_reference_key)


def _local_paths(timeline: otio.schema.Timeline) -> None:
    for clip in timeline.find_clips():
        ref = clip.media_reference
        url = getattr(ref, "target_url", "")
        local = path_from_url(url) if url else None
        if local and local != url:
            ref.target_url = local


def _provenance_to_carriers(timeline: otio.schema.Timeline, fmt: str) -> None:
    """The note and the record (:mod:`.provenance`) where each format keeps text: EDL
    comments, AAF user comments (Avid bin columns), FCP 7 log notes, a marker elsewhere."""
    for item in timeline.find_children():
        data = item.metadata.get(KEY) if hasattr(item, "metadata") else None
        if not data or not isinstance(item, otio.schema.Clip) or "job_id" not in data:
            continue
        record = {k: v for k, v in dict(data).items() if k != "note"}
        note = str(data.get("note") or provenance.note(record))
        line = provenance.record_line(record)
        if fmt == "cmx_3600":
            cmx = dict(item.metadata.get("cmx_3600", {}))
            comments = [c for c in cmx.get("comments", [])
                        if not c.startswith((EDL_COMMENT, EDL_NOTE, EDL_RECORD))]
            cmx["comments"] = [*comments, EDL_NOTE + note, EDL_RECORD + line]
            item.metadata["cmx_3600"] = cmx
            continue
        if fmt == "AAF":  # the writer keeps a mob's user comments (Avid's bin columns)
            aaf = dict(item.metadata.get("AAF", {}))
            kept = {k: v for k, v in dict(aaf.get("UserComments", {})).items() if k != KEY}
            aaf["UserComments"] = {**kept, AAF_NOTE: note, AAF_RECORD: line}
            item.metadata["AAF"] = aaf
            continue
        if fmt == "fcp_xml":  # the writer keeps metadata["fcp_xml"], as the splice writes it
            fcp = dict(item.metadata.get("fcp_xml", {}))
            fcp["logginginfo"] = {"description": note, "lognote": line}
            item.metadata["fcp_xml"] = fcp
            continue
        for index in reversed(range(len(item.markers))):  # idempotent: one carrier
            marker = item.markers[index]
            if marker.name.startswith(KEY) or provenance.parse_record(
                    marker.comment or marker.name.partition(" | ")[2]):
                del item.markers[index]
        start = item.trimmed_range().start_time
        item.markers.append(otio.schema.Marker(
            name=note if fmt != "fcpx_xml" else f"{note} | {line}",  # keeps no comment
            marked_range=otio.opentime.TimeRange(start, otio.opentime.RationalTime(0, start.rate)),
            color=otio.schema.MarkerColor.PURPLE,
            comment=line,
        ))


def _video_tracks(timeline: otio.schema.Timeline) -> list[otio.schema.Track]:
    return [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video]


def _single_video_track(timeline: otio.schema.Timeline, choice: int | str | None) -> None:
    video = _video_tracks(timeline)
    if len(video) <= 1 and choice is None:
        keep = video[0] if video else None
    elif isinstance(choice, int):
        keep = video[choice]
    elif isinstance(choice, str):
        named = [t for t in video if t.name == choice]
        keep = named[0] if named else video[int(choice) if choice.isdigit() else -1]
    else:
        with_clips = [t for t in video if t.enabled and any(
            isinstance(c, otio.schema.Clip) for c in t)]
        keep = (with_clips or video)[-1]
    audio = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio][:2]
    kept = [keep, *audio] if keep is not None else audio
    # the writer takes its video events from the first track: picture first, then sound
    detached = [copy.deepcopy(t) for t in kept]
    timeline.tracks[:] = []
    timeline.tracks.extend(detached)


def _start_as_leading_gap(timeline: otio.schema.Timeline, *, video_only: bool) -> None:
    """Writers that count record time from zero get the start as a gap before every track."""
    start = timeline.global_start_time
    if start is None or start.value == 0:
        return
    for track in timeline.tracks:
        if video_only and track.kind != otio.schema.TrackKind.Video:
            continue
        if len(track) and isinstance(track[0], otio.schema.Gap):
            gap = track[0]
            gap.source_range = otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, start.rate),
                gap.duration().rescaled_to(start.rate) + start,
            )
        else:
            track.insert(0, otio.schema.Gap(source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, start.rate), start)))
    timeline.global_start_time = None


def _safe_reel_names(timeline: otio.schema.Timeline) -> None:
    """Reels with spaces split the EDL event line; the adapter copies them unchecked."""
    for clip in timeline.find_clips():
        cmx = clip.metadata.get("cmx_3600")
        reel = cmx.get("reel") if cmx else None
        if reel is None:
            source = clip.name
            url = getattr(clip.media_reference, "target_url", "")
            if url:
                source = (path_from_url(url) or url).replace("\\", "/").rsplit("/", 1)[-1]
            reel = re.sub(r"\.[A-Za-z0-9]+$", "", source or "AX")
            reel = re.sub(r"[^A-Za-z0-9_]", "_", reel)[:8] or "AX"
        elif re.search(r"\s", str(reel)):
            reel = re.sub(r"\s+", "_", str(reel).strip())
        else:
            continue
        updated = dict(cmx or {})
        updated["reel"] = reel
        clip.metadata["cmx_3600"] = updated


def _fcp7_track_names(timeline: otio.schema.Timeline) -> None:
    """Only ``metadata["fcp_xml"]`` reaches the XML: a track's name (the look) goes there,
    as the ``<name>`` Hiero writes and the reader takes back."""
    for track in timeline.tracks:
        fcp = dict(track.metadata.get("fcp_xml", {}))
        if track.name and "name" not in fcp:
            fcp["name"] = track.name
            track.metadata["fcp_xml"] = fcp


def _fcp7_generators(timeline: otio.schema.Timeline) -> None:
    """The FCP 7 writer crashes on generators it did not read itself (Resolve's Text+):
    marking them as generator items makes it write its empty-file placeholder instead."""
    for clip in timeline.find_clips():
        ref = clip.media_reference
        if isinstance(ref, otio.schema.GeneratorReference):
            fcp = dict(ref.metadata.get("fcp_xml", {}))
            if "effecttype" not in fcp:
                fcp["effecttype"] = "generator"
                ref.metadata["fcp_xml"] = fcp


def _fcpx_generators(timeline: otio.schema.Timeline) -> None:
    """The FCPXML writer crashes on generators; they travel as offline clips of that name."""
    for clip in timeline.find_clips():
        ref = clip.media_reference
        if isinstance(ref, otio.schema.GeneratorReference):
            clip.media_reference = otio.schema.MissingReference(
                name=ref.name, metadata={KEY: {"generator_kind": ref.generator_kind}})


def _generators_to_gaps(timeline: otio.schema.Timeline) -> None:
    """The AAF writer refuses generators (titles, mattes): they become gaps of their length."""
    for track in timeline.find_children(descended_from_type=otio.schema.Track):
        for index, item in enumerate(list(track)):
            if isinstance(item, otio.schema.Clip) and isinstance(
                item.media_reference, otio.schema.GeneratorReference
            ):
                track[index] = otio.schema.Gap(source_range=item.trimmed_range(), name=item.name)


def _bin_of_new_clips(timeline: otio.schema.Timeline) -> None:
    """An ALE is a bin, not a cut: for a result timeline, the bridge's new media only."""
    added = [c for c in timeline.find_clips()
             if isinstance(c.metadata.get(KEY), Mapping) and c.metadata[KEY].get("job_id")]
    if not added:
        return
    track = otio.schema.Track(name="Kling results", kind=otio.schema.TrackKind.Video)
    for clip in added:
        track.append(copy.deepcopy(clip))
    timeline.tracks[:] = []
    timeline.tracks.append(track)


def _spine_to_the_end(timeline: otio.schema.Timeline) -> None:
    """FCPXML hangs every other track's clips off the primary storyline; the writer crashes
    on a clip with nothing under it, so the storyline is padded with a gap to the end."""
    video = _video_tracks(timeline)
    if not video:
        return
    end = timeline.tracks.duration()
    spine = video[0]
    short = end - spine.duration().rescaled_to(end.rate)
    if short.value > 0:
        spine.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, end.rate), short)))


def _media_at_edit_rate(timeline: otio.schema.Timeline) -> None:
    """The AAF writer insists every media range is at the timeline's edit rate (a 24 fps
    B-roll in a 23.976 cut is refused): ranges are re-expressed at that rate."""
    rate = timeline_rate_float(timeline)

    def at_rate(rng: otio.opentime.TimeRange) -> otio.opentime.TimeRange:
        return otio.opentime.TimeRange(
            otio.opentime.RationalTime(round(rng.start_time.rescaled_to(rate).value), rate),
            otio.opentime.RationalTime(round(rng.duration.rescaled_to(rate).value), rate))

    for clip in timeline.find_clips():
        ref = clip.media_reference
        if ref is not None and ref.available_range is not None:
            ref.available_range = at_rate(ref.available_range)
        if clip.source_range is not None:
            clip.source_range = at_rate(clip.source_range)


def _ensure_available_ranges(timeline: otio.schema.Timeline) -> None:
    for clip in timeline.find_clips():
        ref = clip.media_reference
        if (ref is not None and not isinstance(ref, otio.schema.MissingReference)
                and ref.available_range is None):
            ref.available_range = clip.source_range



#: Descriptor classes the AAF writer can build for each kind of track.
_AAF_DESCRIPTORS = {"Video": ("CDCIDescriptor", "RGBADescriptor"),
                    "Audio": ("PCMDescriptor", "WAVEDescriptor", "AIFCDescriptor")}


def _aaf_descriptors(timeline: otio.schema.Timeline) -> None:
    """The writer rebuilds each clip's essence descriptor from the one the reader kept; it
    only knows picture descriptors for picture and sound ones for sound, so an Avid
    ``MultipleDescriptor`` (picture and sound of one file) is replaced by its part of the
    right kind, and anything else it cannot build by its defaults (what it writes for
    media it made itself)."""
    for track in timeline.tracks:
        wanted = _AAF_DESCRIPTORS.get(str(track.kind), ())
        for clip in track.find_clips():
            ref = clip.media_reference
            aaf = ref.metadata.get("AAF") if ref is not None else None
            description = aaf.get("EssenceDescription") if isinstance(aaf, Mapping) else None
            if not isinstance(description, Mapping):
                continue
            if description.get("ClassName") in wanted:
                continue
            parts = description.get("FileDescriptors") or []
            usable = next((dict(p) for p in parts if isinstance(p, Mapping)
                           and p.get("ClassName") in wanted), None)
            kept = dict(aaf) if isinstance(aaf, Mapping) else {}
            if usable is not None:
                kept["EssenceDescription"] = usable
            else:
                kept.pop("EssenceDescription", None)
            ref.metadata["AAF"] = kept


def without_aaf_descriptors(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy with no essence descriptors at all: the AAF writer's defaults for every clip
    (the last resort when it still refuses what the reader kept)."""
    result: otio.schema.Timeline = copy.deepcopy(timeline)
    for clip in result.find_clips():
        ref = clip.media_reference
        aaf = ref.metadata.get("AAF") if ref is not None else None
        if isinstance(aaf, Mapping) and "EssenceDescription" in aaf:
            kept = dict(aaf)
            kept.pop("EssenceDescription")
            ref.metadata["AAF"] = kept
    return result
