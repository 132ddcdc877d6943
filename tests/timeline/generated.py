"""Hypothesis strategies for timelines shaped like editors' cuts, with every kind of item the
bridge has to take, refuse or step over: gaps, transitions, nested compounds, retimes,
generators, offline and still media, markers, plugin metadata, awkward media paths, media
at another rate than the timeline, and disabled clips."""

from __future__ import annotations

from typing import Any

import opentimelineio as otio
from hypothesis import strategies as st

from kling_bridge.timeline.paths import url_from_path

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange

RATES = [24.0, 25.0, 24000 / 1001, 30000 / 1001]
NAMES = st.text(alphabet="AB01 _-#%é", min_size=0, max_size=6)
PATHS = st.sampled_from([
    "/Volumes/Media/A001 take #1.mov", "/media/cam/B%20002.mov", "/media/x.mov",
    "/media/héllo wörld.mxf", "D:/Footage/C003.mov", "/media/sound.wav", "/media/still.exr",
    "//server/share/D004.mov", "relative/E005.mov",
])


@st.composite
def urls(draw: st.DrawFn) -> str:
    path = draw(PATHS)
    style = draw(st.sampled_from(["url", "bare", "http", "localhost"]))
    if style == "bare":
        return path
    if style == "http":
        return "https://example.com/" + path.lstrip("/")
    url = url_from_path(path)
    if style == "localhost" and url.startswith("file:///"):
        return "file://localhost/" + url[len("file:///"):]
    return url


@st.composite
def clips(draw: st.DrawFn, rate: float) -> otio.schema.Clip:
    media_rate = draw(st.sampled_from([rate, rate, 25.0]))
    media_first = draw(st.sampled_from([0, 86400, 90000]))
    media_length = draw(st.integers(1, 400))
    in_frame = draw(st.integers(-5, 300))
    length = draw(st.integers(0, 120))
    kind = draw(st.sampled_from(["external"] * 6 + ["generator", "missing", "none", "sequence"]))
    if kind == "external":
        available = draw(st.sampled_from(["range", "range", "none", "zero"]))
        rng = {"range": TR(RT(media_first, media_rate), RT(media_length, media_rate)),
               "zero": TR(RT(media_first, media_rate), RT(0, media_rate)), "none": None}
        media: Any = otio.schema.ExternalReference(target_url=draw(urls()),
                                                   available_range=rng[available])
    elif kind == "generator":
        media = otio.schema.GeneratorReference(generator_kind=draw(st.sampled_from(
            ["", "Text+", "SolidColor"])))
    elif kind == "missing":
        media = otio.schema.MissingReference()
    elif kind == "sequence":
        media = otio.schema.ImageSequenceReference(target_url_base="file:///seq/",
                                                   name_prefix="f.", name_suffix=".exr")
    else:
        media = None
    # half-frame starts where the media runs at another rate than the cut
    start = (media_first + in_frame) * (media_rate / rate if media_rate != rate else 1)
    clip = otio.schema.Clip(name=draw(NAMES), media_reference=media,
                            source_range=TR(RT(start, rate), RT(length, rate)))
    meta = draw(st.sampled_from(["none", "resolve", "selected", "clip_id", "other", "label"]))
    if meta == "resolve":
        clip.metadata["Resolve_OTIO"] = {"Clip Color": draw(st.sampled_from(["Orange", "Teal"]))}
    elif meta == "selected":
        clip.metadata["kling_bridge"] = {"selected": draw(st.booleans())}
    elif meta == "clip_id":
        clip.metadata["kling_bridge"] = {"selected": True,
                                         "clip_id": draw(st.sampled_from(["p1", "p2", ""]))}
    elif meta == "other":
        clip.metadata["fcp_xml"] = {"labels": {"label2": "Iris"}}
        clip.metadata["kling_bridge"] = {"colour": "Orange"}
    elif meta == "label":
        clip.metadata["fcp_xml"] = {"labels": {"label2": "Orange"}}
    effect = draw(st.sampled_from(["none"] * 5 + ["speed", "reverse", "freeze", "still",
                                                  "remap", "plain", "normal"]))
    if effect == "speed":
        clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=0.5))
    elif effect == "reverse":
        clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=-1.0))
    elif effect == "normal":
        clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=1.0))
    elif effect == "freeze":
        clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=0.0))
    elif effect == "still":
        clip.effects.append(otio.schema.FreezeFrame())
    elif effect == "remap":
        clip.effects.append(otio.schema.Effect(effect_name="Time Remap"))
    elif effect == "plain":
        clip.effects.append(otio.schema.Effect(effect_name="Blur",
                                               metadata={"fcp_xml": {"x": 1}}))
    if draw(st.integers(0, 5)) == 0:
        clip.enabled = False
    for _ in range(draw(st.integers(0, 2))):
        clip.markers.append(otio.schema.Marker(
            name=draw(st.sampled_from(["restyle", "kling: a red door", "note", ""])),
            comment=draw(st.sampled_from(["", "kling: rain on glass"])),
            color=draw(st.sampled_from([otio.schema.MarkerColor.RED,
                                        otio.schema.MarkerColor.GREEN])),
            marked_range=TR(RT(start + draw(st.integers(0, 10)), rate),
                            RT(draw(st.integers(0, 30)), rate))))
    return clip


@st.composite
def tracks(draw: st.DrawFn, rate: float, kind: str, depth: int = 0) -> otio.schema.Track:
    track = otio.schema.Track(name=draw(st.sampled_from(["Video 1", "FX", "", "V2"])), kind=kind)
    previous_is_item = False
    for _ in range(draw(st.integers(0, 7))):
        what = draw(st.sampled_from(["clip"] * 6 + ["gap", "transition", "nested"]))
        if what == "gap":
            track.append(otio.schema.Gap(source_range=TR(RT(0, rate),
                                                         RT(draw(st.integers(1, 50)), rate))))
        elif what == "transition":
            if not previous_is_item:
                continue
            track.append(otio.schema.Transition(in_offset=RT(2, rate), out_offset=RT(2, rate)))
            previous_is_item = False
            continue
        elif what == "nested" and depth == 0:
            stack = otio.schema.Stack(name=draw(NAMES),
                                      source_range=TR(RT(0, rate), RT(draw(st.integers(1, 40)),
                                                                       rate)))
            stack.append(draw(tracks(rate, otio.schema.TrackKind.Video, depth + 1)))
            track.append(stack)
        else:
            track.append(draw(clips(rate)))
        previous_is_item = True
    if isinstance(track[-1] if len(track) else None, otio.schema.Transition):
        del track[-1]
    for _ in range(draw(st.integers(0, 1))):
        track.markers.append(otio.schema.Marker(
            name=draw(st.sampled_from(["restyle", "kling: storm clouds"])),
            marked_range=TR(RT(draw(st.integers(0, 200)), rate), RT(24, rate))))
    return track


@st.composite
def timelines(draw: st.DrawFn) -> otio.schema.Timeline:
    rate = draw(st.sampled_from(RATES))
    start = draw(st.sampled_from([None, RT(0, rate), otio.opentime.from_timecode(
        "01:00:00:00", rate)]))
    timeline = otio.schema.Timeline(name="generated", global_start_time=start)
    for _ in range(draw(st.integers(1, 3))):
        timeline.tracks.append(draw(tracks(rate, otio.schema.TrackKind.Video)))
    if draw(st.booleans()):
        timeline.tracks.append(draw(tracks(rate, otio.schema.TrackKind.Audio)))
    for n in range(draw(st.integers(0, 3))):
        timeline.tracks.markers.append(otio.schema.Marker(
            name=f"kling: shot {n}", marked_range=TR(RT(n * 48, rate),
                                                     RT(draw(st.sampled_from([0, 48])), rate))))
    return timeline
