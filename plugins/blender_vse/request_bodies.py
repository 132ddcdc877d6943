"""The daemon requests the actions send, built from the scene: restyle, generate (B-roll,
shots, a chain's ``then``), lip-sync. Reading the scene only; sending and recording them is
:mod:`.service`'s part, so a script can price a request without sending it.
"""

from typing import Any, Dict, List, Tuple

from . import compat, host
from .client import BridgeError
from .otio_export import build_timeline, rate_text


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
