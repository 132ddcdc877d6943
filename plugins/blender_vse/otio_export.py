"""Sequencer strips -> the OTIO JSON timeline that ``POST /v1/restyle`` reads.

Pure: plain data in (:class:`StripInfo`, read from Blender by :mod:`.host`), a JSON-ready
dict out, so it is tested without Blender and against the daemon's own reader.

How Blender maps to OTIO:

* each channel is a video track ("Channel 3", or the channel's name), channels 1..N in
  order, so the daemon's 0-based track index + 1 is the channel;
* the scene's rate ``render.fps / render.fps_base`` is made exact (29.97 -> 30000/1001) and
  written as OTIO's float of that fraction, and as text in the timeline's metadata;
* a movie strip shows its media frame for frame at the scene rate, so its source range is
  its hold offset + trim, in frames of that rate, and its media is the absolute file path;
* a movie at another rate than the scene that Blender plays frame for frame (one source
  frame per scene frame: strips made by scripts, or added with "Adjust Playback Rate" off)
  has the same frames, counted at the movie's own rate -- the result, as many frames,
  lands on exactly the frames the source covers. One Blender plays in real time (the UI's
  default) shows frames by Blender's own rounding and is refused;
* every exported strip carries ``metadata["kling_bridge"] = {"selected": True, "clip_id":
  <the strip's stable id>}`` -- the marking the daemon's selection looks for.

Strips the bridge cannot restyle (sound, images, effects, metas, retimed or reversed
movies, movies played in real time at another rate than the scene) are left out, each with
the reason.
"""

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

KEY = "kling_bridge"
NTSC_BASES = (24, 30, 48, 60, 120)


@dataclass
class StripInfo:
    """What the export needs to know about one strip (read on Blender's main thread)."""

    name: str
    clip_id: str
    channel: int
    kind: str  # Blender's strip type: MOVIE, SOUND, IMAGE, META, SCENE, TEXT, COLOR, ...
    start: int  # first frame shown on the timeline
    duration: int  # frames shown
    path: str = ""  # absolute media path
    source_start: int = 0  # media frame shown at ``start``
    media_frames: Optional[int] = None  # frames the media holds, when known
    media_rate: Optional[float] = None  # the movie's own rate as Blender reports it
    reversed: bool = False
    retimed: bool = False
    muted: bool = False
    missing: bool = False  # the media file is not where the strip says
    color_tag: str = ""
    #: at another rate than the scene: "frames" (frame for frame), "realtime", "unknown"
    playback: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def exact_rate(fps: float, fps_base: float = 1.0) -> Fraction:
    """``render.fps / render.fps_base`` as the fraction it stands for: 30/1.001 -> 30000/1001."""
    value = float(fps) / float(fps_base)
    for base in NTSC_BASES:
        if abs(value - base * 1000 / 1001) < 1e-3:
            return Fraction(base * 1000, 1001)
    if abs(value - round(value)) < 1e-4:
        return Fraction(round(value))
    return Fraction(value).limit_denominator(1001)


def rate_text(rate: Fraction) -> str:
    return str(rate.numerator) if rate.denominator == 1 else "%d/%d" % (
        rate.numerator, rate.denominator)


def same_rate(a: float, b: Fraction) -> bool:
    """Blender stores a movie's rate as a 32-bit float (29.970029830932617)."""
    return abs(float(a) - float(b)) <= float(b) * 1e-4


def skip_reason(strip: StripInfo, rate: Fraction) -> Optional[str]:
    """Why ``strip`` cannot be restyled as it stands, or None."""
    kind = strip.kind
    if kind in ("SOUND",):
        return "sound strip: the bridge restyles picture (a movie's own sound is kept)"
    if kind == "IMAGE":
        return "image strip: render it to a movie file first"
    if kind == "META":
        return "meta strip: open it (Tab) and select the strips inside"
    if kind == "SCENE":
        return "scene strip: render the scene to a movie file first"
    if kind != "MOVIE":
        return "%s strip: there is no footage to restyle" % kind.lower().replace("_", " ")
    if not strip.path:
        return "movie strip without a file: relink it"
    if strip.path.startswith("//") or not os.path.isabs(strip.path):
        return "media path %r is relative and the .blend is not saved: save it or use an " \
               "absolute path" % strip.path
    if strip.missing:
        return "media not found at %s: relink it (Strip > Movie Strip > Relink) or put the " \
               "file back" % strip.path
    if strip.reversed:
        return "plays reversed: turn off Reverse Frames (or render it) first"
    if strip.retimed:
        return "retimed: reset its retiming keys (or render the speed change) first"
    if strip.media_rate is not None and not same_rate(strip.media_rate, rate) and \
            strip.playback != "frames":
        movie = _fps_text(exact_rate(strip.media_rate))
        if strip.playback == "realtime":
            return ("a %s movie played at its own speed in a %s scene (Adjust Playback "
                    "Rate): which of its frames each scene frame shows is Blender's rounding, "
                    "so a result could not land frame for frame; set the scene's frame rate "
                    "to %s, or transcode the movie to %s" % (movie, _fps_text(rate), movie,
                                                             _fps_text(rate)))
        return ("a %s movie in a %s scene whose frame count Blender could not read, so how "
                "it plays cannot be told; set the scene's frame rate to %s, or transcode the "
                "movie" % (movie, _fps_text(rate), movie))
    if strip.duration <= 0:
        return "zero length"
    if strip.source_start < 0:
        return "its start is held before the movie's first frame: trim the hold off first"
    if strip.media_frames is not None and strip.source_start + strip.duration > \
            strip.media_frames:
        return "its end is held past the movie's last frame: trim the hold off first"
    return None


def _fps_text(rate: Fraction) -> str:
    return "%g fps" % round(float(rate), 3)


def file_url(path: str) -> str:
    """``file://`` URL, percent-encoded (``#`` and spaces in names survive)."""
    path = path.replace("\\", "/")
    if not path.startswith("/"):
        path = "/" + path  # Windows drive letters: file:///C:/...
    return "file://" + quote(path, safe="/:")


def _time(value: int, rate: Fraction) -> Dict[str, Any]:
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": float(rate), "value": float(value)}


def _range(start: int, duration: int, rate: Fraction) -> Dict[str, Any]:
    return {"OTIO_SCHEMA": "TimeRange.1", "start_time": _time(start, rate),
            "duration": _time(duration, rate)}


def _gap(frames: int, rate: Fraction) -> Dict[str, Any]:
    return {"OTIO_SCHEMA": "Gap.1", "name": "", "metadata": {},
            "source_range": _range(0, frames, rate), "effects": [], "markers": [],
            "enabled": True}


def source_rate(strip: StripInfo, rate: Fraction) -> Fraction:
    """The rate a strip's source frames are counted at: the scene's, or the movie's own
    for a movie at another rate played frame for frame."""
    if strip.media_rate is not None and not same_rate(strip.media_rate, rate):
        return exact_rate(strip.media_rate)
    return rate


def record_length(strip: StripInfo, rate: Fraction) -> int:
    """How long the daemon counts the clip on the timeline: its source's duration in scene
    frames (a 25 fps clip of 50 frames lasts 48 frames of a 24 fps timeline)."""
    return round(Fraction(strip.duration) * rate / source_rate(strip, rate))


def _clip(strip: StripInfo, rate: Fraction) -> Dict[str, Any]:
    rate = source_rate(strip, rate)
    available = None
    if strip.media_frames is not None:
        available = _range(0, strip.media_frames, rate)
    reference = {"OTIO_SCHEMA": "ExternalReference.1", "name": os.path.basename(strip.path),
                 "available_range": available, "available_image_bounds": None,
                 "metadata": {}, "target_url": file_url(strip.path)}
    blender = {"channel": strip.channel, "strip": strip.name, "color_tag": strip.color_tag,
               "mute": strip.muted}
    blender.update(strip.extra)
    return {
        "OTIO_SCHEMA": "Clip.2",
        "name": strip.name,
        "metadata": {KEY: {"selected": True, "clip_id": strip.clip_id,
                           "channel": strip.channel, "record_start": strip.start},
                     "blender": {"strip": blender}},
        "source_range": _range(strip.source_start, strip.duration, rate),
        "effects": [],
        "markers": [],
        "enabled": True,
        "media_references": {"DEFAULT_MEDIA": reference},
        "active_media_reference_key": "DEFAULT_MEDIA",
    }


def build_timeline(strips: List[StripInfo], rate: Fraction, name: str = "Blender",
                   channel_names: Optional[Dict[int, str]] = None,
                   ) -> Tuple[Dict[str, Any], List[Tuple[str, str]], int]:
    """(OTIO JSON, [(strip name, why it was left out)], origin frame).

    Track positions count from ``origin`` (the earliest exported strip, or 0 if earlier),
    which is also the timeline's ``global_start_time``: Blender frame = origin + position.
    """
    channel_names = channel_names or {}
    chosen = []  # type: List[StripInfo]
    skipped = []  # type: List[Tuple[str, str]]
    for strip in strips:
        reason = skip_reason(strip, rate)
        if reason:
            skipped.append((strip.name, reason))
        else:
            chosen.append(strip)
    origin = min([0] + [s.start for s in chosen])
    tracks = []
    top = max([0] + [s.channel for s in chosen])
    for channel in range(1, top + 1):
        children = []  # type: List[Dict[str, Any]]
        end = position = origin  # Blender's end of the last strip; where the daemon counts
        for strip in sorted((s for s in chosen if s.channel == channel), key=lambda s: s.start):
            if strip.start < end:  # overlapping strips cannot share a channel in Blender
                skipped.append((strip.name, "overlaps another strip on channel %d" % channel))
                continue
            if strip.start > position:
                children.append(_gap(strip.start - position, rate))
            children.append(_clip(strip, rate))
            end = strip.start + strip.duration
            position = max(position, strip.start) + record_length(strip, rate)
        tracks.append({"OTIO_SCHEMA": "Track.1",
                       "name": channel_names.get(channel) or "Channel %d" % channel,
                       "metadata": {"blender": {"channel": channel}}, "source_range": None,
                       "effects": [], "markers": [], "enabled": True, "children": children,
                       "kind": "Video"})
    timeline = {
        "OTIO_SCHEMA": "Timeline.1",
        "name": name,
        "metadata": {KEY: {"host": "blender", "rate": rate_text(rate), "origin": origin}},
        "global_start_time": _time(origin, rate),
        "tracks": {"OTIO_SCHEMA": "Stack.1", "name": "tracks", "metadata": {},
                   "source_range": None, "effects": [], "markers": [], "enabled": True,
                   "children": tracks},
    }
    return timeline, skipped, origin
