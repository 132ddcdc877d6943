"""``Timeline.Export(path, resolve.EXPORT_OTIO)`` as Resolve writes it.

The shape follows Resolve's own exports (a Resolve 21.0 Studio export published with
ADR 0010 of percentageup-oss/UPPELETE, and tests/samples/blender53_resolve_metadata.otio):
``Resolve_OTIO`` metadata throughout, ``global_start_time`` at the timeline's start frame,
all video tracks ("Video 1"...) then all audio tracks ("Audio 1"...), every track padded with
gaps, ``Clip.2`` with a ``DEFAULT_MEDIA`` ``ExternalReference`` whose ``target_url`` is a bare
path and whose ``available_range`` is the media's own timecode range at the media's rate,
a clip's ``source_range`` at the *timeline* rate and including the media's start timecode,
a dozen "Resolve Effect" effects per clip, ``Link Group ID`` tying video and audio, titles
as ``MissingReference``. No item id is written: tools match items by track and place.
"""

from fractions import Fraction
from typing import Any, Dict, List  # noqa: F401

EFFECTS = (("Transform", 2), ("Cropping", 3), ("Dynamic Zoom", 59), ("Composite", 1),
           ("Lens Correction", 43), ("Retime and Scaling", 22), ("Video Faders", 36))
AUDIO_EFFECTS = (("Fairlight Clip Volume and Fades", 62), ("Fairlight Clip Pan", 72))
OTIO_COLOURS = {"Blue": "BLUE", "Cyan": "CYAN", "Green": "GREEN", "Yellow": "YELLOW",
                "Red": "RED", "Pink": "PINK", "Purple": "PURPLE", "Fuchsia": "MAGENTA",
                "Rose": "PINK", "Lavender": "PURPLE", "Sky": "CYAN", "Mint": "GREEN",
                "Lemon": "YELLOW", "Sand": "ORANGE", "Cocoa": "BLACK", "Cream": "WHITE"}


def _rt(value, rate):
    # type: (float, Fraction) -> Dict[str, Any]
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": float(rate), "value": float(value)}


def _range(start, duration, rate):
    # type: (float, float, Fraction) -> Dict[str, Any]
    return {"OTIO_SCHEMA": "TimeRange.1", "duration": _rt(duration, rate),
            "start_time": _rt(start, rate)}


def _effects(audio):
    # type: (bool) -> List[Dict[str, Any]]
    return [{"OTIO_SCHEMA": "Effect.1",
             "metadata": {"Resolve_OTIO": {"Display Type": 1, "Effect Name": name,
                                           "Enabled": name != "Dynamic Zoom", "Name": name,
                                           "Parameters": [], "Type": kind}},
             "name": "", "effect_name": "Resolve Effect"}
            for name, kind in (AUDIO_EFFECTS if audio else EFFECTS)]


def _marker(marker, rate, offset=0):
    # type: (Dict[str, Any], Fraction, int) -> Dict[str, Any]
    return {"OTIO_SCHEMA": "Marker.2",
            "metadata": {"Resolve_OTIO": {"Keywords": [], "Note": marker.get("note", "")}},
            "name": marker.get("name", ""),
            "color": OTIO_COLOURS.get(marker.get("color", ""), "RED"),
            "marked_range": _range(marker["frame"] + offset, marker.get("duration", 1), rate),
            "comment": marker.get("note", "")}


def _gap(frames, rate):
    # type: (int, Fraction) -> Dict[str, Any]
    return {"OTIO_SCHEMA": "Gap.1", "metadata": {}, "name": "",
            "source_range": _range(0, frames, rate), "effects": [], "markers": [],
            "enabled": True}


def _clip(app, item, rate, kind):
    # type: (Any, Dict[str, Any], Fraction, str) -> Dict[str, Any]
    media = app.media(item.get("media"))
    meta = {"Resolve_OTIO": {}}  # type: Dict[str, Any]
    if item.get("link"):
        meta["Resolve_OTIO"]["Link Group ID"] = item["link"]
    if kind == "audio":
        meta["Resolve_OTIO"]["Channels"] = [{"Source Channel ID": c, "Source Track ID": 0}
                                            for c in range(2)]
    if media is None:
        ref = {"OTIO_SCHEMA": "MissingReference.1", "metadata": {}, "name": item["name"],
               "available_range": None, "available_image_bounds": None}
        source = _range(0, item["duration"], rate)
    else:
        props = media["props"]
        media_rate = Fraction(props["_rate"])
        media_start = int(props["_start"])
        ref = {"OTIO_SCHEMA": "ExternalReference.1", "metadata": {}, "name": media["name"],
               "available_range": _range(media_start, int(props["Frames"]), media_rate),
               "available_image_bounds": None, "target_url": props["File Path"]}
        # Resolve quantises the source start to the timeline's frame grid, timecode included
        start = round(Fraction(media_start + item["left"]) * rate / media_rate)
        source = _range(start, item["duration"], rate)
    first = int(source["start_time"]["value"])  # clip markers sit in the clip's source time
    markers = [_marker(m, rate, first) for m in item.get("markers", [])]
    return {"OTIO_SCHEMA": "Clip.2", "metadata": meta, "name": item["name"],
            "source_range": source, "effects": _effects(kind == "audio"), "markers": markers,
            "enabled": bool(item.get("enabled", True)),
            "media_references": {"DEFAULT_MEDIA": ref},
            "active_media_reference_key": "DEFAULT_MEDIA"}


def timeline_document(app, timeline):
    # type: (Any, Dict[str, Any]) -> Dict[str, Any]
    rate = Fraction(timeline["rate"])
    start = timeline["start"]
    end = max([start] + [i["start"] + i["duration"] for kind in ("video", "audio")
                         for t in timeline[kind] for i in t["items"]])
    tracks = []
    for kind in ("video", "audio"):
        for _number, track in enumerate(timeline[kind], 1):
            children = []
            position = start
            for item in sorted(track["items"], key=lambda i: i["start"]):
                if item["start"] > position:
                    children.append(_gap(item["start"] - position, rate))
                children.append(_clip(app, item, rate, kind))
                position = item["start"] + item["duration"]
            if end > position:
                children.append(_gap(end - position, rate))
            meta = {"Locked": False}  # type: Dict[str, Any]
            if kind == "audio":
                meta = {"Audio Type": "Stereo", "Locked": False, "SoloOn": False}
            tracks.append({"OTIO_SCHEMA": "Track.1", "metadata": {"Resolve_OTIO": meta},
                           "name": track["name"], "source_range": None, "effects": [],
                           "markers": [], "enabled": True, "children": children,
                           "kind": "Video" if kind == "video" else "Audio"})
    return {"OTIO_SCHEMA": "Timeline.1",
            "metadata": {"Resolve_OTIO": {"Resolve OTIO Meta Version": "1.0"}},
            "name": timeline["name"], "global_start_time": _rt(start, rate),
            "tracks": {"OTIO_SCHEMA": "Stack.1", "metadata": {}, "name": "",
                       "source_range": None, "effects": [],
                       "markers": [_marker(m, rate) for m in timeline.get("markers", [])],
                       "enabled": True, "children": tracks}}
