"""What the actions do, shared by the operators and the scripting API (main thread).

Each action reads the scene (via :mod:`.host`), builds the daemon request (via the pure
modules), records it in the scene with an idempotency key, sends it (on the worker thread,
or at once for scripts), turns the record into the batch the daemon answers, and -- when
the batch's jobs finish -- puts the results on the timeline. A submission whose answer
never came is sent again with its key (:func:`resend`): the daemon answers the batch it
made the first time, so nothing is made or paid twice.
"""

import os
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

import bpy

from . import compat, host, placement, records
from .client import BridgeError
from .otio_export import build_timeline, rate_text

RUNTIME = None  # the Runtime, set by register()


def runtime():
    if RUNTIME is None:
        raise BridgeError("not_registered", "the Kling Bridge add-on is not enabled",
                          "enable it in Preferences > Add-ons")
    return RUNTIME


def require_online() -> None:
    online, forced = compat.online_access()
    if online:
        return
    if forced:
        raise BridgeError("offline", "Blender was started with --offline-mode: Kling Bridge "
                          "cannot reach its daemon", "start Blender without --offline-mode")
    raise BridgeError("offline", "online access is off: Kling Bridge needs it to reach its "
                      "local daemon (which sends clips to Kling)",
                      "turn on Preferences > System > Network > Allow Online Access "
                      "(or start Blender with --online-mode)")


# ---------------------------------------------------------------------- requests


def restyle_request(scene, strips, preset="", prompt="", resolution="1080p", variants=1,
                    handles=12, dry_run=False) -> Tuple[Dict[str, Any], Dict[str, Any],
                                                        List[Tuple[str, str]]]:
    """(request body, sources by clip id, skipped) for ``strips`` of ``scene``."""
    if not preset and not prompt:
        raise BridgeError("no_look", "choose a preset or write a prompt", "")
    rate = host.scene_rate(scene)
    infos = [host.strip_info(scene, s) for s in strips]
    timeline, skipped, _origin = build_timeline(infos, rate, scene.name,
                                               host.channel_names(scene))
    skipped_names = {name for name, _ in skipped}
    sources = {i.clip_id: {"name": i.name, "channel": i.channel, "start": i.start,
                           "duration": i.duration}
               for i in infos if i.name not in skipped_names}
    look = {}  # type: Dict[str, Any]
    if preset:
        look["preset"] = preset
    if prompt:
        look["prompt"] = prompt
    body = {"timeline": timeline, "look": look, "resolution": resolution,
            "variants": int(variants), "select": {"mode": "marked", "handles": int(handles)},
            "dry_run": bool(dry_run)}
    return body, sources, skipped


def conform_of(scene) -> Dict[str, Any]:
    r = scene.render
    return {"rate": rate_text(host.scene_rate(scene)), "width": int(r.resolution_x),
            "height": int(r.resolution_y)}


def generate_request(scene, prompt="", frame=None, duration=5, aspect="", resolution="1080p",
                     audio=True, image="", use_current_frame=False, shots=None,
                     dry_run=False, then=None) -> Dict[str, Any]:
    """``POST /v1/generate`` at ``frame``; ``then``: looks the clip is restyled in before
    it is placed (a chain: only the restyled clip lands)."""
    frame = scene.frame_current if frame is None else int(frame)
    body = {"prompt": prompt, "duration": int(duration),
            "aspect_ratio": aspect or host.aspect_of(scene), "resolution": resolution,
            "audio": bool(audio), "conform": conform_of(scene),
            "placement": {"record_start": max(0, frame), "track_index": 0,
                          "timeline_rate": rate_text(host.scene_rate(scene)),
                          "name": (prompt or "B-roll")[:60]},
            "dry_run": bool(dry_run)}  # type: Dict[str, Any]
    if shots:
        body["shots"] = list(shots)
        body.pop("duration")
    if then:
        body["then"] = [dict(look) for look in then]
    if image:
        body["image"] = host.abspath(image)
    elif use_current_frame:
        strip = host.movie_under(scene, frame)
        if strip is None:
            raise BridgeError("no_frame", "no movie strip under the playhead at frame %d" % frame,
                              "move the playhead over a movie strip, or choose an image")
        info = host.strip_info(scene, strip)
        body["frame_of"] = {"path": info.path,
                            "start_frame": max(0, info.source_start + frame - info.start)}
    return body


def lipsync_request(scene, sound, face, resolution="1080p", dry_run=False) -> Dict[str, Any]:
    rate = host.scene_rate(scene)
    start, length, trim = compat.timing(sound)
    offset = trim + compat.content(sound)[0]
    body = {"audio": host.abspath(compat.sound_path(sound)),
            "audio_start": round(float(offset / rate), 6),
            "audio_end": round(float((offset + length) / rate), 6),
            "resolution": resolution, "conform": conform_of(scene),
            "placement": {"record_start": max(0, start), "track_index": 0,
                          "timeline_rate": rate_text(rate), "name": "lip-sync"},
            "dry_run": bool(dry_run)}  # type: Dict[str, Any]
    if face.type == "MOVIE":
        body["video"] = host.abspath(face.filepath)
    elif face.type == "IMAGE":
        body["image"] = host.abspath(compat.image_path(face))
    else:
        raise BridgeError("bad_face", "%r is a %s strip: lip-sync needs a movie or image strip"
                          % (face.name, face.type.lower()), "select the face's strip too")
    return body


def lipsync_pair(strips) -> Tuple[Any, Any]:
    sounds = [s for s in strips if s.type == "SOUND"]
    faces = [s for s in strips if s.type in ("MOVIE", "IMAGE")]
    if len(sounds) != 1 or len(faces) != 1:
        raise BridgeError("bad_selection", "select one sound strip (the dialogue) and one movie "
                          "or image strip (the face); selected: %d sound, %d picture"
                          % (len(sounds), len(faces)), "")
    return sounds[0], faces[0]


# ---------------------------------------------------------------------- sending


#: Endpoints that take an ``idempotency_key`` (the daemon's lip-sync does not, yet).
KEYED = ("/restyle", "/generate")


def new_key() -> str:
    return "blender:" + uuid.uuid4().hex


def remember(scene, answer, kind, label, sources=None, placement_info=None,
             key="") -> Dict[str, Any]:
    data = host.read_record(scene)
    record = records.add_batch(data, answer, kind, label, rate_text(host.scene_rate(scene)),
                               sources, placement_info, key=key)
    host.write_record(scene, data)
    memory_add(scene, data)
    watch(record["id"])
    return record


def begin(scene, path, body, kind, label, sources=None, placement_info=None) -> str:
    """Record a submission in the scene before it is sent; its idempotency key."""
    key = new_key()
    data = host.read_record(scene)
    records.add_pending(data, key, path, body, kind, label, rate_text(host.scene_rate(scene)),
                        sources, placement_info)
    host.write_record(scene, data)
    memory_add(scene, data)
    return key


def forget(scene, key) -> None:
    """The daemon refused the submission: it made nothing, so nothing is remembered."""
    data = host.read_record(scene)
    records.drop(data, key)
    host.write_record(scene, data)
    memory_add(scene, data)


def answer_lost(error) -> bool:
    """No answer, or a failure on the daemon's side: the batch may exist; ask again later.
    A 4xx is a refusal: nothing was made."""
    return error.status is None or error.status >= 500


def lost(error) -> BridgeError:
    return BridgeError(error.code, "no answer to the request (%s); it is remembered in the "
                       "file and asked again with the same key, so nothing is made or paid "
                       "twice" % error.message,
                       "Check Jobs Now (or kb.apply_finished()) once the daemon answers",
                       error.status)


def _settle(scene_name, key, kind, label, sources, placement_info):
    """on_done for a keyed POST: the record becomes the batch, or is dropped on a refusal."""
    def done(answer, error):
        scene = bpy.data.scenes.get(scene_name)
        if scene is None:
            return error
        if error is None and answer.get("batch_id"):
            remember(scene, answer, kind, label, sources, placement_info, key)
        elif error is not None and not answer_lost(error):
            forget(scene, key)
        elif error is not None:
            return lost(error)
        return error
    return done


_MEMORY = {}  # scene name -> record data: what the undo system must not take back


def memory_add(scene, data) -> None:
    _MEMORY[scene.name] = records.load(records.dump(data))


def restore_after_undo() -> None:
    """Jobs sent are facts: put back batches an undo removed from a scene's record."""
    for scene in bpy.data.scenes:
        remembered = _MEMORY.get(scene.name)
        if remembered is None:
            continue
        data = host.read_record(scene)
        if records.merge(data, remembered):
            host.write_record(scene, data)
            for batch_id in records.pending(data):
                watch(batch_id)


def send(scene, path, body, kind, label, sources=None, placement_info=None,
         on_sent: Optional[Callable[[Any, Any], None]] = None) -> None:
    """Record ``body`` in the scene, POST it on the worker with its idempotency key, and
    turn the record into the batch on the main thread when the daemon answers."""
    if path not in KEYED or body.get("dry_run"):
        scene_name = scene.name

        def plain(answer, error):
            target = bpy.data.scenes.get(scene_name)
            if error is None and answer.get("batch_id") and target is not None:
                remember(target, answer, kind, label, sources, placement_info)
            if on_sent is not None:
                on_sent(answer, error)

        runtime().submit(lambda client: client.post(path, body), plain)
        return
    key = begin(scene, path, body, kind, label, sources, placement_info)
    settle = _settle(scene.name, key, kind, label, sources, placement_info)
    keyed = dict(body, idempotency_key=key)

    def done(answer, error):
        error = settle(answer, error)
        if on_sent is not None:
            on_sent(answer, error)

    runtime().submit(lambda client: client.post(path, keyed), done)


def send_now(scene, path, body, kind, label, sources=None, placement_info=None):
    """The same, synchronously (scripts, background mode): returns the daemon's answer."""
    client = runtime().client(start=True)
    if path not in KEYED or body.get("dry_run"):
        answer = client.post(path, body)
        if answer.get("batch_id"):
            remember(scene, answer, kind, label, sources, placement_info)
        return answer
    key = begin(scene, path, body, kind, label, sources, placement_info)
    try:
        answer = client.post(path, dict(body, idempotency_key=key))
    except BridgeError as exc:
        if not answer_lost(exc):
            forget(scene, key)
            raise
        raise lost(exc) from None
    remember(scene, answer, kind, label, sources, placement_info, key)
    return answer


def resend(scene, wait=True) -> int:
    """Send again, each with its own key, the submissions of ``scene`` whose answer never
    came (``wait``: now, on this thread; else on the worker). How many were asked."""
    data = host.read_record(scene)
    unsent = records.unsent(data)
    for record in unsent:
        request = record.get("request") or {}
        path, body = request.get("path", ""), dict(request.get("body") or {})
        body["idempotency_key"] = record["key"]
        key, kind, label = record["key"], record["kind"], record["label"]
        sources, where = record.get("sources"), record.get("placement")
        if not wait:
            runtime().submit(lambda client, p=path, b=body: client.post(p, b),
                             _settle(scene.name, key, kind, label, sources, where))
            continue
        try:
            answer = runtime().client(start=False).post(path, body)
        except BridgeError as exc:
            if answer_lost(exc):
                raise lost(exc) from None
            forget(scene, key)
            print("kling-bridge: the daemon refused %r sent earlier: %s" % (label, exc))
            continue
        remember(scene, answer, kind, label, sources, where, key)
    return len(unsent)


def estimate_async(key, path, body) -> Tuple[str, str]:
    """The price of ``body`` for a dialog: ("ok", text) | ("pending", "") | ("error", msg)."""
    rt = runtime()
    known = rt.estimates.get(key)
    if known is not None:
        return known
    rt.estimates[key] = ("pending", "")
    dry = dict(body, dry_run=True)

    def done(answer, error):
        if error is not None:
            rt.estimates[key] = ("error", str(error))
        else:
            text = placement.price_text(answer)
            extra = ["%s: %s" % (s["name"], s["reason"]) for s in answer.get("skipped", [])]
            rt.estimates[key] = ("ok", text + ("" if not extra else " -- left out: "
                                               + "; ".join(extra)))
        host.tag_redraw()

    rt.submit(lambda client: client.post(path, dry), done)
    return rt.estimates[key]


def fetch_presets() -> None:
    rt = runtime()
    if rt.presets is not None:
        return
    rt.presets = []

    def done(presets, error):
        rt.presets = presets if error is None else []
        if error is not None:
            rt.status = str(error)
        host.tag_redraw()

    rt.submit(lambda client: client.presets(), done)


# ---------------------------------------------------------------------- results


def watch(batch_id) -> None:
    runtime().watch(batch_id, lambda status, error: on_status(batch_id, status, error))


def on_status(batch_id, status, error) -> None:
    """A batch answer from the worker: update the record, apply what finished."""
    if error is not None:
        runtime().status = str(error)
        return
    scene = host.scene_of_batch(batch_id)
    if scene is None:
        runtime().unwatch(batch_id)
        return
    apply_status(scene, status)
    host.tag_redraw()


def apply_status(scene, status, now=False) -> List[str]:
    """Fold a batch answer into ``scene``'s record and apply its finished jobs; returns the
    names of the new strips. Idempotent: a job with a strip already is not applied twice.
    A finished Compare Looks batch then asks for its picture (``now``: on this thread)."""
    from . import chains

    data = host.read_record(scene)
    todo = records.update(data, status)
    record = records.find(data, status["batch_id"])
    if record is not None and (record.get("placement") or {}).get("compare") \
            and record.get("state") not in records.ENDED:
        todo = []  # a comparison lands whole, stacked in the order of its looks
    made = []
    for job in todo:
        spec = job.get("spec") or {}
        if record["kind"] != "restyle" and not (spec.get("placement") or spec.get("clip")):
            # a chain's generated clip: it fed its restyle, which is what lands
            records.mark_applied(data, record["id"], job["id"], [], "fed the next link")
            continue
        existing = host.with_job(scene, job["id"])
        if existing:
            records.mark_applied(data, record["id"], job["id"], [s.name for s in existing])
            continue
        try:
            names, note = apply_job(scene, record, job)
        except (BridgeError, ValueError, RuntimeError) as exc:
            names, note = [], "not applied: %s" % exc
            record["jobs"][job["id"]]["skip_apply"] = True
        records.mark_applied(data, record["id"], job["id"], names, note)
        made.extend(names)
    picture = record is not None and chains.wants_picture(record)
    if picture:
        record["comparison_asked"] = True
    host.write_record(scene, data)
    memory_add(scene, data)
    if picture:
        chains.ask_picture(scene, dict(record), now=now)
    if record is not None and not records.needs_polling(record) and RUNTIME is not None:
        RUNTIME.unwatch(record["id"])
    return made


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


def poll_now(scene, wait=False, timeout=None, interval=0.5) -> List[str]:
    """Ask the daemon about every unfinished batch of ``scene`` (synchronously) and apply
    what finished; ``wait``: until none is running. For scripts and background mode."""
    import time

    resend(scene)
    client = runtime().client(start=False)
    deadline = None if timeout is None else time.time() + timeout
    made = []  # type: List[str]
    while True:
        data = host.read_record(scene)
        for batch_id in records.pending(data):
            made.extend(apply_status(scene, client.batch(batch_id), now=True))
        data = host.read_record(scene)
        running = [b for b in data["batches"] if b.get("state") not in records.ENDED]
        if not wait or not running:
            return made
        if deadline is not None and time.time() > deadline:
            raise BridgeError("timeout", "%d batch(es) still running after %ss"
                              % (len(running), timeout), "they go on in the daemon")
        time.sleep(interval)


def cancel(job_id, on_done=None) -> None:
    runtime().submit(lambda client: client.cancel(job_id),
                     on_done or (lambda result, error: None))


def cancel_now(scene, job_id) -> Dict[str, Any]:
    """Cancel a job synchronously and fold its batch's new state into the record."""
    client = runtime().client(start=False)
    job = client.cancel(job_id)
    if job.get("batch_id"):
        apply_status(scene, client.batch(job["batch_id"]), now=True)
    return job


def resume_all() -> int:
    """Watch every unfinished batch of every scene (after a file is opened), and ask again
    for submissions whose answer never came (on the worker; in background mode the
    synchronous :func:`poll_now` does that)."""
    count = 0
    for scene in host.scenes_with_record():
        data = host.read_record(scene)
        memory_add(scene, data)
        for batch_id in records.pending(data):
            watch(batch_id)
            count += 1
        if bpy.app.background:
            count += len(records.unsent(data))  # poll_now sends them, synchronously
        else:
            count += resend(scene, wait=False)
    return count


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
