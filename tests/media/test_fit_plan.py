"""The fit planner, pure: every editor's clip becomes provider inputs within every limit.

No ffmpeg here: the full product of rates x durations x geometries runs in milliseconds,
plus a property test over arbitrary clips.
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kling_bridge.media import timecode
from kling_bridge.media.errors import RangeOutsideMedia
from kling_bridge.media.fit import (
    FitPlan,
    balanced_cuts,
    fit_rate_for,
    plan_fit,
    planned_seconds,
    restamp_rate,
    scene_windows,
)
from kling_bridge.media.probe import AudioInfo, MediaInfo, VideoInfo
from kling_bridge.specs import InputLimits, SourceRange

LIMITS = InputLimits()
RATES = ["24000/1001", "24", "25", "30000/1001", "50", "60000/1001"]
DURATIONS = [1, 8, 40]
GEOMETRIES = [(1920, 1080), (1920, 804), (1080, 1920), (640, 360), (4096, 2160)]


def media(width: int, height: int, rate: str, frames: int, *, vfr: bool = False,
          field_order: str = "progressive", rotation: int = 0, audio: bool = True,
          tc: str | None = None, codec: str = "h264", sar: Fraction = Fraction(1)) -> MediaInfo:
    r = Fraction(rate)
    video = VideoInfo(codec=codec, width=width, height=height, rate=r, frame_count=frames,
                      duration=float(frames / r), start_time=0.0, vfr=vfr, pix_fmt="yuv420p",
                      sar=sar, rotation=rotation, field_order=field_order)
    a = AudioInfo("aac", 48000, 2, "stereo", 0.0, float(frames / r)) if audio else None
    return MediaInfo(f"/m/clip {width}x{height}.mov", "mov,mp4", 10**6, float(frames / r), 0.0,
                     video, a, tc)


def check_plan(plan: FitPlan, limits: InputLimits = LIMITS) -> None:
    """Every promise a plan makes, asserted."""
    src = plan.source
    # the window covers the range, and the segments tile the window exactly
    assert plan.window_start <= src.start_frame
    assert plan.window_start + plan.window_frames >= src.start_frame + src.frame_count
    pos = plan.window_start
    for seg in plan.segments:
        assert seg.src_start == pos
        pos += seg.src_frames
        secs = seg.seconds(plan.fit_rate)
        assert limits.video_min_seconds < secs < limits.video_max_seconds, seg
        assert seg.fit_frames >= 1 and seg.pad_frames >= 0
    assert pos == plan.window_start + plan.window_frames
    w, h = plan.canvas
    assert w % 2 == 0 and h % 2 == 0
    assert limits.side_min <= w <= limits.side_max and limits.side_min <= h <= limits.side_max
    assert w * h <= limits.max_pixels
    assert limits.aspect_min <= w / h <= limits.aspect_max
    assert limits.fps_min <= plan.fit_rate <= limits.fps_max
    b = plan.content
    assert b.x >= 0 and b.y >= 0 and b.x + b.width <= w and b.y + b.height <= h
    v = plan.media.video
    assert v is not None
    src_aspect = v.display_width / v.display_height
    assert b.width / b.height == pytest.approx(src_aspect, rel=0.02)
    # worst case size under the VBV cap stays under the byte limit
    longest = max(s.seconds(plan.fit_rate) for s in plan.segments)
    kbps = plan.encode.video_kbps_max + plan.encode.audio_kbps
    assert kbps * 1000 / 8 * (longest + 1) <= limits.max_bytes
    t = plan.target
    assert t.frame_count == src.frame_count and t.rate == Fraction(src.rate)
    assert (t.width, t.height) == (v.frame_width, v.frame_height)


@pytest.mark.parametrize(
    ("rate", "seconds", "geometry", "handles"),
    list(itertools.product(RATES, DURATIONS, GEOMETRIES, (0, 48))),
)
def test_full_product_fits_every_limit(rate: str, seconds: int, geometry: tuple[int, int],
                                       handles: int) -> None:
    r = Fraction(rate)
    n = math.ceil(seconds * r)
    m = media(*geometry, rate, n + 2 * handles)
    plan = plan_fit(SourceRange(m.path, handles, n, rate, handles, handles), m, LIMITS)
    check_plan(plan)
    for res in ("720p", "4k"):
        check_plan(plan_fit(SourceRange(m.path, handles, n, rate, handles, handles), m, LIMITS,
                            resolution=res))
    assert json.loads(json.dumps(plan.to_dict())) == plan.to_dict()
    assert FitPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(16, 8192),
    height=st.integers(16, 8192),
    rate=st.sampled_from([*RATES, "12", "15", "30", "48", "100", "120", "120000/1001", "240",
                          "7", "18", "59", "61", "1000/37"]),
    frames=st.integers(1, 4000),
    before=st.integers(0, 400),
    after=st.integers(0, 400),
    res=st.sampled_from(["720p", "1080p", "4k"]),
    cuts=st.lists(st.integers(0, 4400), max_size=8),
)
def test_any_clip_plans_within_limits(width: int, height: int, rate: str, frames: int,
                                      before: int, after: int, res: str,
                                      cuts: list[int]) -> None:
    if not 0.05 <= width / height <= 20:
        return  # beyond any camera; letterboxing into 0.4-2 would leave a sliver
    m = media(width, height, rate, frames + before + after)
    src = SourceRange(m.path, before, frames, rate, before, after)
    plan = plan_fit(src, m, LIMITS, resolution=res, scene_cuts=tuple(sorted(cuts)))
    check_plan(plan)
    # The price shown before preparing counts the same inputs, each within a frame.
    predicted = planned_seconds(src, LIMITS)
    assert len(predicted) == len(plan.segments)
    if not cuts:
        frame = 1 / float(min(plan.fit_rate, Fraction(rate))) + 1e-9
        for seconds, seg in zip(predicted, plan.segments, strict=True):
            assert seconds == pytest.approx(seg.seconds(plan.fit_rate), abs=frame)


def test_short_range_uses_handles_before_padding() -> None:
    m = media(1920, 1080, "25", 500)
    plan = plan_fit(SourceRange(m.path, 200, 25, "25", 100, 100), m, LIMITS)
    assert plan.handles[0] + plan.handles[1] + 25 == plan.window_frames
    assert plan.window_frames >= 3.1 * 25
    assert plan.segments[0].pad_frames == 0
    assert plan.range_offset == plan.handles[0] > 0
    # no handles at all: the last frame is held instead
    bare = plan_fit(SourceRange(m.path, 200, 25, "25"), m, LIMITS)
    assert bare.handles == (0, 0) and bare.window_frames == 25
    assert bare.segments[0].pad_frames == math.ceil(Fraction(31, 10) * 25) - 25
    # handles the media does not hold are not used
    edge = plan_fit(SourceRange(m.path, 0, 25, "25", 100, 100), m, LIMITS)
    assert edge.handles[0] == 0 and edge.handles[1] > 0


def test_long_range_splits_balanced_and_prefers_scene_changes() -> None:
    m = media(1920, 1080, "25", 1000)
    plan = plan_fit(SourceRange(m.path, 0, 1000, "25"), m, LIMITS)
    lengths = [s.src_frames for s in plan.segments]
    assert len(lengths) == 3 and max(lengths) - min(lengths) <= 1
    cut_plan = plan_fit(SourceRange(m.path, 0, 1000, "25"), m, LIMITS, scene_cuts=(310, 640))
    assert [s.src_start for s in cut_plan.segments] == [0, 310, 640]
    far = plan_fit(SourceRange(m.path, 0, 1000, "25"), m, LIMITS, scene_cuts=(100,))
    assert [s.src_start for s in far.segments] == [s.src_start for s in plan.segments]


def test_balanced_cuts_respect_bounds() -> None:
    assert balanced_cuts(100, 1, min_len=10, max_len=100) == []
    assert balanced_cuts(90, 3, min_len=10, max_len=40) == [30, 60]
    assert balanced_cuts(90, 3, min_len=10, max_len=40, scene_cuts=(28, 62)) == [28, 62]
    assert balanced_cuts(90, 3, min_len=29, max_len=40, scene_cuts=(28,)) == [30, 60]
    assert balanced_cuts(90, 3, min_len=10, max_len=40, scene_cuts=(20,)) == [30, 60]


def test_scene_windows_cover_where_cuts_can_move() -> None:
    assert scene_windows(1000, 1) == []
    windows = scene_windows(1000, 3)
    assert windows == [(292, 375), (626, 709)]
    decoded = sum(hi - lo for lo, hi in windows)
    assert decoded < 1000 / 5  # a fifth of the range is decoded, not all of it


def test_scope_is_letterboxed_and_remembered() -> None:
    m = media(1920, 804, "24000/1001", 240)
    plan = plan_fit(SourceRange(m.path, 0, 240, "24000/1001"), m, LIMITS)
    w, h = plan.canvas
    assert w / h == pytest.approx(2.0, abs=0.01)
    crop = plan.crop_fractions
    assert crop is not None and crop[0] == 0 and crop[2] == 1 and crop[1] > 0
    assert any("letterbox" in n for n in plan.notes)


def test_phone_vertical_and_proxy_and_dci() -> None:
    vert = plan_fit(SourceRange("p", 0, 240, "60000/1001"), media(1080, 1920, "60000/1001",
                                                                   240), LIMITS)
    assert vert.canvas == (1080, 1920) and vert.crop_fractions is None
    proxy = plan_fit(SourceRange("p", 0, 100, "25"), media(640, 360, "25", 100), LIMITS)
    assert min(proxy.canvas) == 700
    dci = plan_fit(SourceRange("p", 0, 100, "24"), media(4096, 2160, "24", 100), LIMITS,
                   resolution="4k")
    assert dci.canvas[0] * dci.canvas[1] <= LIMITS.max_pixels
    small = plan_fit(SourceRange("p", 0, 100, "24"), media(4096, 2160, "24", 100), LIMITS,
                     resolution="720p")
    assert min(small.canvas) == 720  # nothing larger than the answer is uploaded


def test_rates_outside_the_window() -> None:
    assert fit_rate_for(Fraction(12), LIMITS) == 24
    assert fit_rate_for(Fraction(15), LIMITS) == 30
    assert fit_rate_for(Fraction(120), LIMITS) == 60
    assert fit_rate_for(Fraction(120000, 1001), LIMITS) == Fraction(60000, 1001)
    assert fit_rate_for(Fraction(25), LIMITS) == 25
    plan = plan_fit(SourceRange("p", 0, 240, "120"), media(1920, 1080, "120", 240), LIMITS)
    assert plan.fit_rate == 60 and plan.segments[0].fit_frames == 120
    assert plan.target.rate == 120


def test_23976_is_sent_frame_for_frame_at_24() -> None:
    """Just under the floor: stamped at the provider's own 24 fps, never each frame twice."""
    assert restamp_rate(Fraction(24000, 1001), LIMITS) == 24
    assert restamp_rate(Fraction(12), LIMITS) is None  # far off: repeated instead
    assert restamp_rate(Fraction(25), LIMITS) is None  # inside: sent as it is
    assert restamp_rate(Fraction(23), LIMITS) is None
    plan = plan_fit(SourceRange("p", 0, 300, "24000/1001"),
                    media(1920, 1080, "24000/1001", 300), LIMITS)
    assert plan.restamped and plan.fit_rate == 24 and plan.clock == 24
    assert plan.target.rate == Fraction(24000, 1001)
    assert [s.fit_frames for s in plan.segments] == [300]
    assert plan.segments[0].seconds(plan.fit_rate) == 12.5
    assert FitPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    long = plan_fit(SourceRange("p", 0, 960, "24000/1001"),
                    media(1920, 1080, "24000/1001", 960), LIMITS)
    assert sum(s.fit_frames for s in long.segments) == 960
    assert all(s.fit_frames == s.src_frames for s in long.segments)
    assert all(s.seconds(long.fit_rate) <= LIMITS.video_max_seconds for s in long.segments)
    # a 24 fps source needs no restamp and a 23.976 plan stored before restamps reads back
    assert not plan_fit(SourceRange("p", 0, 100, "24"), media(1920, 1080, "24", 100),
                        LIMITS).restamped
    old = plan.to_dict()
    del old["restamped"]
    assert not FitPlan.from_dict(old).restamped


def test_vfr_interlace_rotation_prores_are_planned_for() -> None:
    vfr = plan_fit(SourceRange("p", 0, 90, "30"), media(1920, 1080, "30", 90, vfr=True), LIMITS)
    assert vfr.to_cfr
    il = plan_fit(SourceRange("p", 0, 90, "30000/1001"),
                  media(1920, 1080, "30000/1001", 90, field_order="tt"), LIMITS)
    assert il.deinterlace
    rot = plan_fit(SourceRange("p", 0, 90, "30"), media(1920, 1080, "30", 90, rotation=90),
                   LIMITS)
    assert (rot.target.width, rot.target.height) == (1080, 1920)
    assert rot.canvas[1] > rot.canvas[0]
    pr = plan_fit(SourceRange("p", 0, 90, "24"), media(1920, 1080, "24", 90, codec="prores"),
                  LIMITS)
    assert pr.target.codec == "prores"
    ana = plan_fit(SourceRange("p", 0, 90, "25"),
                   media(1440, 1080, "25", 90, sar=Fraction(4, 3)), LIMITS)
    assert ana.content.width / ana.content.height == pytest.approx(16 / 9, rel=0.01)
    assert ana.target.sar == Fraction(4, 3) and ana.target.width == 1440


def test_timecode_of_range_start() -> None:
    m = media(1920, 1080, "30000/1001", 20000, tc="01:00:00;00")
    plan = plan_fit(SourceRange(m.path, 1800, 90, "30000/1001"), m, LIMITS)
    assert plan.target.timecode == "01:01:00;02"


def test_range_outside_media_names_the_file() -> None:
    m = media(1920, 1080, "25", 100)
    with pytest.raises(RangeOutsideMedia) as caught:
        plan_fit(SourceRange(m.path, 90, 20, "25"), m, LIMITS)
    assert m.path in str(caught.value) and "99" in str(caught.value)
    with pytest.raises(RangeOutsideMedia):
        plan_fit(SourceRange(m.path, 0, 0, "25"), m, LIMITS)


@pytest.mark.parametrize(
    ("tc", "rate", "frames"),
    [("00:01:00;02", "30000/1001", 1800), ("00:10:00;00", "30000/1001", 17982),
     ("01:00:00:00", "25", 90000), ("00:00:01:00", "24000/1001", 24),
     ("00:01:00;04", "60000/1001", 3600)],
)
def test_timecode_arithmetic(tc: str, rate: str, frames: int) -> None:
    r = Fraction(rate)
    assert timecode.parse(tc, r)[0] == frames
    assert timecode.format_tc(frames, r, ";" in tc) == tc
    for n in (0, 1, 1799, 1800, 17981, 17982, 107892):
        start, drop = timecode.parse(tc, r)
        assert timecode.parse(timecode.format_tc(start + n, r, drop), r)[0] == start + n


def test_timecode_where_opentime_falls_short() -> None:
    """Why the media layer keeps its own timecode arithmetic (media/timecode.py) instead of
    ``otio.opentime`` (0.18): opentime refuses 100/120 fps timecode, wraps 29.97 non-drop at
    24 hours of *real* time (``23:59:59:24`` + 0 comes back ``00:01:26:06``) and reads a
    three-digit frame field ``119`` as frame 11. Camera timecode meets all three."""
    ntsc = Fraction(30000, 1001)
    assert timecode.offset("23:59:59:24", 0, ntsc) == "23:59:59:24"
    assert timecode.offset("23:59:59:29", 1, ntsc) == "00:00:00:00"
    assert timecode.offset("00:00:00:119", 1, Fraction(120)) == "00:00:01:00"
    assert timecode.offset("01:00:00:00", 120, Fraction(120)) == "01:00:01:00"
    with pytest.raises(timecode.TimecodeError):
        timecode.parse("00:00:00:119", Fraction(30))
