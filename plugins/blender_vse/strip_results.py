"""Putting one finished job's video on the timeline: a restyle above its source strip
(or where it was, if moved, trimmed or gone), a generated clip and its sound at its frame on
the first free channel; and flipping a source with its restyled version. Idempotence (a job
with a strip already) and the scene's record are :mod:`.service`'s part.
"""

import os
from typing import Any, List, Tuple

from . import compat, host, placement
from .client import BridgeError


def apply_job(scene, record, job) -> Tuple[List[str], str]:
    video = placement.video_output(job)
    if video is None or not video.get("path"):
        raise BridgeError("no_output", "job %s finished without a video" % job["id"])
    path = video["path"]
    if not os.path.isfile(path):
        raise BridgeError("output_missing", "%s is gone (the daemon keeps results 30 days)"
                          % path)
    frames = int(video.get("frames") or 0)
    kind = record["kind"]
    props = placement.job_props(job, kind)
    if kind == "restyle":
        return _apply_restyle(scene, record, job, path, frames, props)
    return _apply_generated(scene, record, job, path, frames, bool(video.get("has_audio")),
                            props)


def _apply_restyle(scene, record, job, path, frames, props):
    clip = (job.get("spec") or {}).get("clip") or {}
    clip_id = clip.get("clip_id", "")
    saved = record["sources"].get(clip_id, {})
    source = host.find_by_id(scene, clip_id)
    note = ""
    if source is not None:
        start, length, _ = compat.timing(source)
        channel = source.channel
        collection = host.holder_of(scene, source)
        if saved and length != saved["duration"]:
            note = "the source was trimmed after sending; placed where it was sent from"
            start, length = saved["start"], saved["duration"]
        elif saved and start != saved["start"]:
            note = "the source was moved after sending; placed over it where it is now"
        base = source.name
    elif saved:
        start, length, channel = saved["start"], saved["duration"], saved["channel"]
        collection = compat.strip_collection(compat.editor_of(scene, create=True))
        base = saved["name"]
        note = "the source strip is gone; placed where it was"
    else:
        raise BridgeError("no_source", "the source of job %s is not in this scene" % job["id"])
    if frames and frames != length:
        note = (note + "; " if note else "") + "result has %d frames, source %d" % (frames,
                                                                                   length)
    channel = placement.free_channel(host.occupancy(collection), start, start + length,
                                     above=channel)
    strip = host.add_movie(scene, collection, placement.result_name(base, job), path,
                           channel, start)
    host.trim_to(strip, length)
    if source is not None:
        host.copy_look(source, strip)
    props[host.SOURCE_PROP] = clip_id
    host.set_props(strip, props)
    host.ensure_id(scene, strip)
    return [strip.name], note


def _apply_generated(scene, record, job, path, frames, has_audio, props):
    where = record.get("placement") or {}
    start = int(where.get("frame", scene.frame_current))
    collection = compat.strip_collection(compat.editor_of(scene, create=True))
    name = placement.result_name(record.get("label") or "generated", job)
    probe_len = frames or 1
    channel = placement.free_channel(host.occupancy(collection), start, start + probe_len,
                                     above=int(where.get("above", 0)))
    strip = host.add_movie(scene, collection, name, path, channel, start)
    length = compat.timing(strip)[1]
    if frames and length > frames:
        host.trim_to(strip, frames)
        length = frames
    host.set_props(strip, props)
    host.ensure_id(scene, strip)
    names = [strip.name]
    note = ""
    if has_audio:
        sound_channel = placement.free_channel(host.occupancy(collection), start,
                                               start + length, above=channel)
        sound, why = host.add_sound(collection, name + " (sound)", path, sound_channel, start)
        if sound is None:
            note = "its sound was not added: %s" % why
        else:
            host.trim_to(sound, length)
            host.set_props(sound, props)
            names.append(sound.name)
    return names, note


def swap(scene, strip) -> Tuple[Any, Any]:
    """Flip between a source and its restyled version: (now shown, now muted)."""
    source_id = strip.get(host.SOURCE_PROP)
    if source_id:
        result, source = strip, host.find_by_id(scene, source_id)
    else:
        source = strip
        results = [s for s in host.every_strip(scene)
                   if s.get(host.SOURCE_PROP) == strip.get(host.ID_PROP)]
        result = next((r for r in results if not r.mute), results[0] if results else None)
    if source is None or result is None:
        raise BridgeError("no_pair", "%r has no restyled version (or its source is gone)"
                          % strip.name, "select a restyled strip or its source")
    if result.mute:
        result.mute, source.mute = False, True
        return result, source
    result.mute, source.mute = True, False
    return source, result
