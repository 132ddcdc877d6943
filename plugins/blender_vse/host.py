"""Every read and write of Blender data the extension makes (main thread only).

Reads strips into plain :class:`~.otio_export.StripInfo`, writes result strips with their
custom properties, and keeps the scene's job record. Version differences go through
:mod:`.compat`; the logic around these calls lives in the pure modules.
"""

import contextlib
import os
import uuid
from fractions import Fraction
from typing import Any, Dict, List, Optional

import bpy

from . import compat, records
from .otio_export import StripInfo, exact_rate, same_rate

ID_PROP = "kling_id"
SOURCE_PROP = "kling_source"
COPIED = ("use_flip_x", "use_flip_y", "blend_type", "blend_alpha", "color_saturation",
          "color_multiply", "use_deinterlace", "alpha_mode")


def scene_rate(scene) -> Fraction:
    return exact_rate(scene.render.fps, scene.render.fps_base)


def selected(scene) -> List[Any]:
    editor = compat.editor_of(scene)
    if editor is None:
        return []
    return sorted((s for s in compat.shown_strips(editor) if s.select),
                  key=lambda s: (s.channel, compat.timing(s)[0]))


def every_strip(scene) -> List[Any]:
    editor = compat.editor_of(scene)
    return list(compat.all_strips(editor)) if editor is not None else []


def ensure_id(scene, strip) -> str:
    """The strip's stable id; a duplicated strip (which copied its original's) gets its own."""
    current = strip.get(ID_PROP)
    if current:
        twins = [s for s in every_strip(scene) if s.get(ID_PROP) == current]
        if len(twins) == 1 or twins[0] == strip:
            return str(current)
    new = uuid.uuid4().hex[:16]
    strip[ID_PROP] = new
    return new


def find_by_id(scene, clip_id: str):
    for strip in every_strip(scene):
        if strip.get(ID_PROP) == clip_id:
            return strip
    return None


def with_job(scene, job_id: str) -> List[Any]:
    return [s for s in every_strip(scene) if s.get("kling_job") == job_id]


def abspath(path: str, library=None) -> str:
    """Absolute and normalised: a saved .blend holds ``//../media/a.mov``-style paths (an
    unsaved one cannot resolve them: those stay ``//...`` and the export says why)."""
    if not path:
        return ""
    resolved = bpy.path.abspath(path, library=library)
    return resolved if resolved.startswith("//") else os.path.normpath(resolved)


def _retimed(strip) -> bool:
    """Retiming keys other than the two a strip gets when retiming is merely switched on
    (Blender's RetimingKey holds only its frame, so speed = content span / key span)."""
    keys = getattr(strip, "retiming_keys", None)
    if keys is None or len(keys) == 0:
        return False
    frames = [int(k.timeline_frame) for k in keys]
    return len(frames) != 2 or frames[1] - frames[0] != compat.content(strip)[1]


_FRAME_COUNTS = {}  # type: Dict[Any, int]


def movie_frames(path: str) -> Optional[int]:
    """The frames in a movie file (Blender reads it as a movie clip; cached per file
    version). None where it cannot be read -- or in a draw callback, which may not add
    data-blocks (the dialogs' invoke reads it first)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (path, stat.st_mtime, stat.st_size)
    if key in _FRAME_COUNTS:
        return _FRAME_COUNTS[key]
    before = {clip.as_pointer() for clip in bpy.data.movieclips}
    try:
        clip = bpy.data.movieclips.load(path, check_existing=True)
    except Exception:  # RuntimeError: not a movie; AttributeError: a draw callback
        return None
    frames = int(clip.frame_duration)
    if clip.as_pointer() not in before:
        bpy.data.movieclips.remove(clip)
    _FRAME_COUNTS[key] = frames
    return frames if frames > 0 else None


def _playback(strip, path: str, trimmed: int) -> str:
    """How Blender plays a movie at another rate than the scene: "frames" (one source
    frame per scene frame), "realtime" (Adjust Playback Rate), or "unknown"."""
    frames = movie_frames(path)
    if frames is None:
        return "unknown"
    return "frames" if compat.content_on_timeline(strip) == frames - trimmed else "realtime"


def strip_info(scene, strip) -> StripInfo:
    """Plain facts about ``strip`` (gives it a stable id when it has none)."""
    start, length, trim = compat.timing(strip)
    kind = compat.strip_type(strip)
    info = StripInfo(name=strip.name, clip_id=ensure_id(scene, strip), channel=strip.channel,
                     kind=kind, start=start, duration=length, muted=bool(strip.mute),
                     color_tag=str(getattr(strip, "color_tag", "") or ""))
    if kind == "MOVIE":
        hold_start, content, hold_end = compat.content(strip)
        info.path = abspath(strip.filepath)
        info.missing = not info.path.startswith("//") and not os.path.isfile(info.path)
        info.source_start = hold_start + trim
        info.media_frames = hold_start + content + hold_end
        info.media_rate = float(strip.fps) if strip.fps else None
        info.reversed = bool(getattr(strip, "use_reverse_frames", False))
        info.retimed = _retimed(strip)
        if info.media_rate and not info.missing and not same_rate(info.media_rate,
                                                                  scene_rate(scene)):
            info.playback = _playback(strip, info.path, hold_start + hold_end)
    elif kind == "SOUND":
        info.path = abspath(compat.sound_path(strip))
    elif kind == "IMAGE":
        info.path = abspath(compat.image_path(strip))
    return info


def channel_names(scene) -> Dict[int, str]:
    editor = compat.editor_of(scene)
    channels = getattr(editor, "channels", None) if editor is not None else None
    if channels is None:
        return {}
    out = {}
    for index, channel in enumerate(channels):
        name = getattr(channel, "name", "")
        if name and name != "Channel %d" % index:
            out[index] = name
    return out


def holder_of(scene, strip):
    """The collection holding ``strip`` (the editor's, or an enclosing meta strip's)."""
    editor = compat.editor_of(scene)
    for meta in [s for s in compat.all_strips(editor) if s.type == "META"]:
        if strip.name in compat.strip_collection(meta):
            return compat.strip_collection(meta)
    return compat.strip_collection(editor)


def occupancy(collection) -> List[Any]:
    spans = []
    for strip in collection:
        start, length, _ = compat.timing(strip)
        spans.append((strip.channel, start, start + length))
    return spans


def add_movie(scene, collection, name: str, path: str, channel: int, start: int):
    """A movie strip of ``path`` starting at ``start``, left unselected."""
    strip = collection.new_movie(name=name, filepath=path, channel=channel, frame_start=start)
    compat.place(strip, start)
    strip.select = False
    return strip


def add_sound(collection, name: str, path: str, channel: int, start: int):
    try:
        strip = collection.new_sound(name=name, filepath=path, channel=channel,
                                     frame_start=start)
    except RuntimeError as exc:
        return None, str(exc).replace("Error: ", "").strip()
    strip.select = False
    return strip, ""


def trim_to(strip, frames: int) -> None:
    """Show ``frames`` frames of a new strip (its end handle), when the file has more."""
    if compat.timing(strip)[1] > frames:
        compat.set_length(strip, frames)


def copy_look(source, target) -> None:
    """The source's placement in the frame (transform, crop, flips, blend) on its result."""
    for attr in COPIED:
        if hasattr(source, attr) and hasattr(target, attr):
            with contextlib.suppress(TypeError, AttributeError, ValueError):
                setattr(target, attr, getattr(source, attr))
    for group in ("transform", "crop"):
        src, dst = getattr(source, group, None), getattr(target, group, None)
        if src is None or dst is None:
            continue
        for prop in src.bl_rna.properties:
            if prop.identifier != "rna_type" and not prop.is_readonly:
                with contextlib.suppress(TypeError, AttributeError, ValueError):
                    setattr(dst, prop.identifier, getattr(src, prop.identifier))


def set_props(strip, props: Dict[str, Any]) -> None:
    for key, value in props.items():
        strip[key] = value


def read_record(scene) -> Dict[str, Any]:
    return records.load(scene.get(records.PROP))


def write_record(scene, data: Dict[str, Any]) -> None:
    scene[records.PROP] = records.dump(data)


def scenes_with_record():
    return [s for s in bpy.data.scenes if s.get(records.PROP)]


def scene_of_batch(batch_id: str):
    for scene in scenes_with_record():
        if records.find(read_record(scene), batch_id) is not None:
            return scene
    return None


def aspect_of(scene) -> str:
    """The generation aspect nearest the scene's picture: 16:9, 9:16 or 1:1."""
    r = scene.render
    ratio = (r.resolution_x * r.pixel_aspect_x) / max(1.0, r.resolution_y * r.pixel_aspect_y)
    choices = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
    return min(choices, key=lambda k: abs(choices[k] - ratio))


def movie_under(scene, frame: int) -> Optional[Any]:
    """The topmost shown, unmuted movie strip at ``frame`` (for "use the current frame")."""
    editor = compat.editor_of(scene)
    if editor is None:
        return None
    best = None
    for strip in compat.shown_strips(editor):
        start, length, _ = compat.timing(strip)
        if strip.type == "MOVIE" and not strip.mute and start <= frame < start + length \
                and (best is None or strip.channel > best.channel):
            best = strip
    return best


def selected_markers(scene) -> List[Any]:
    return [(m.frame, m.name) for m in scene.timeline_markers if m.select]


def tag_redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None:
        return
    for window in wm.windows:
        screen = window.screen
        if screen is None:
            continue
        for area in screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()
