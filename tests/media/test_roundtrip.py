"""Frame-exact round trips with real ffmpeg on generated media.

Source -> plan -> fitted segments (checked against every Kling limit) -> a 24 fps answer
(Kling's timing, simulated by a plain ffmpeg retime) -> conform -> the result must have
the range's exact frame count, rate, geometry, audio length and timecode, and every result
frame must show the right source frame (read from a barcode burnt into the source).

Covering design instead of the full 90-combination product (which the pure planner test
runs): every rate meets every length class once -- shorter than Kling's 3 s minimum (handles,
then a held last frame), one segment, split -- and every geometry appears. What a split
tests is the seam, not the length: Kling takes at most 15.5 s, so 16 s is cut in two at every
rate (the second segment starting mid-GOP); one case, at 23.976 (restamped, tolerance 0) in
scope, is cut in three (32 s) so a middle segment is cut at both ends. The 4K case is a few
frames: what it shows is that 4K is scaled into Kling's pixel limit and back, at any length.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

from kling_bridge.media import timecode
from kling_bridge.media.conform import ConformOptions, conform
from kling_bridge.media.errors import RangeOutsideMedia
from kling_bridge.media.extract import extract_segment
from kling_bridge.media.fit import FitPlan, plan_fit, restamp_rate, violations
from kling_bridge.media.probe import probe
from kling_bridge.media.run import ffmpeg_bin
from kling_bridge.media.synth import read_barcodes
from kling_bridge.providers.base import InputLimits
from kling_bridge.specs import SourceRange

MakeClip = Callable[..., Path]
Sim = Callable[..., Path]
LIMITS = InputLimits()


@dataclass(frozen=True)
class Case:
    rate: str
    seconds: float
    size: tuple[int, int]
    handles: int = 0  # seconds of media around the range, declared as handles
    segments: int = 1  # provider inputs the range must be split into

    @property
    def id(self) -> str:
        return (f"{float(Fraction(self.rate)):.3f}fps-{self.seconds:g}s-"
                f"{self.size[0]}x{self.size[1]}")


COVER = [
    # under 3 s, every geometry: reach 3 s by handles or by holding the last frame
    Case("24000/1001", 0.25, (4096, 2160)),  # 4K: over Kling's pixel limit, scaled and back
    Case("24", 1, (1920, 1080), handles=1),
    Case("25", 1, (1920, 804)),
    Case("30000/1001", 1, (1080, 1920), handles=1),
    Case("50", 1, (640, 360)),
    Case("60000/1001", 1, (1920, 1080)),
    # 4 s: one segment, within the window as it is (no handles, no hold)
    Case("24000/1001", 4, (640, 360)),
    Case("24", 4, (640, 360)),
    Case("25", 4, (1280, 536)),
    Case("30000/1001", 4, (720, 1280)),
    Case("50", 4, (640, 360)),
    Case("60000/1001", 4, (640, 360)),
]
COVER_LONG = [
    # over 15.5 s: split into balanced segments and stitched back. Small sources: every
    # segment is scaled up to Kling's 700 px minimum whatever the source's size, so the
    # seams are the same; the sizes themselves are covered above. The 3-segment case keeps
    # the scope shape, so a letterboxed picture also crosses the seams.
    Case("24000/1001", 32, (320, 134), segments=3),
    Case("24", 16, (320, 180), segments=2),
    Case("25", 16, (320, 180), segments=2),
    Case("30000/1001", 16, (320, 180), segments=2),
    Case("50", 16, (320, 180), segments=2),
    Case("60000/1001", 16, (320, 180), segments=2),
]


def tolerance(rate: Fraction) -> int:
    """How far (in source frames) a 24 fps answer can put a frame: 0 when nothing moves --
    24 itself, and 23.976, sent frame for frame at 24 (restamp_rate)."""
    if rate == 24 or restamp_rate(rate, LIMITS) == 24:
        return 0
    return math.ceil(rate / 48)


def run_round_trip(src: Path, rng: SourceRange, tmp: Path, sim: Sim, *, extra: int = 0,
                   resolution: str = "720p") -> tuple[FitPlan, Path]:
    info = probe(src)
    plan = plan_fit(rng, info, LIMITS, resolution=resolution, preset="ultrafast", crf=30)
    answers = []
    for seg in plan.segments:
        fitted = extract_segment(plan, seg, tmp)
        f = probe(fitted)
        assert f.video is not None
        assert violations(f.video.width, f.video.height, f.video.rate, f.video.duration,
                          f.size_bytes, f.container, LIMITS) == [], seg
        assert f.video.frame_count == seg.fit_frames + seg.pad_frames
        answers.append(sim(fitted, tmp / f"answer_{seg.index}.mp4", extra_frames=extra))
    out = conform(plan, answers, tmp / "result.mov", ConformOptions(preset="ultrafast", crf=30))
    return plan, out


def check_result(out: Path, src: Path, rng: SourceRange, *, barcode: bool = True) -> None:
    source = probe(src)
    res = probe(out)
    sv, rv = source.video, res.video
    assert sv is not None and rv is not None
    assert rv.frame_count == rng.frame_count
    assert rv.rate == rng.fps
    assert (rv.width, rv.height) == (sv.frame_width, sv.frame_height)
    if source.audio is not None:
        assert res.audio is not None
        samples = round((res.audio.duration or 0) * res.audio.sample_rate)
        assert samples == round(rng.frame_count / rng.fps * source.audio.sample_rate)
        assert res.audio.channels == source.audio.channels
    if barcode:
        codes = read_barcodes(out)
        assert len(codes) == rng.frame_count
        tol = tolerance(rng.fps)
        worst = max(abs(c - (rng.start_frame + k)) for k, c in enumerate(codes))
        assert worst <= tol, (codes[:12], codes[-12:])
        assert codes == sorted(codes)  # never a frame from the past


def _case(case: Case, clip: MakeClip, tmp_path: Path, sim: Sim) -> None:
    r = Fraction(case.rate)
    n = math.ceil(case.seconds * r)
    h = math.ceil(case.handles * r)
    pad = 7  # media beyond the declared handles, never used
    src = clip(f"src {case.id}.mp4", width=case.size[0], height=case.size[1], rate=case.rate,
               frames=n + 2 * (h + pad), barcode=True, pattern="plain", gop=120)
    rng = SourceRange(str(src), h + pad, n, case.rate, h, h)
    plan, out = run_round_trip(src, rng, tmp_path, sim)
    assert len(plan.segments) == case.segments
    if case.seconds < 3:
        assert plan.handles == ((h, h) if h else (0, 0))
    elif case.segments == 1:
        assert plan.handles == (0, 0) and plan.segments[0].pad_frames == 0
    check_result(out, src, rng)


@pytest.mark.parametrize("case", COVER, ids=lambda c: c.id)
def test_round_trip_is_frame_exact(case: Case, clip: MakeClip, tmp_path: Path,
                                   kling_sim: Sim) -> None:
    _case(case, clip, tmp_path, kling_sim)


@pytest.mark.slow
@pytest.mark.parametrize("case", COVER_LONG, ids=lambda c: c.id)
def test_long_round_trip_is_frame_exact(case: Case, clip: MakeClip, tmp_path: Path,
                                        kling_sim: Sim) -> None:
    _case(case, clip, tmp_path, kling_sim)


@pytest.mark.parametrize("extra", [-1, 2])
def test_answers_a_frame_off_still_conform_exactly(extra: int, clip: MakeClip, tmp_path: Path,
                                                   kling_sim: Sim) -> None:
    src = clip("off.mp4", width=640, height=360, rate="25", frames=120, barcode=True,
               pattern="plain")
    rng = SourceRange(str(src), 10, 100, "25")
    _, out = run_round_trip(src, rng, tmp_path, kling_sim, extra=extra)
    res = probe(out)
    assert res.video is not None and res.video.frame_count == 100


def test_timecode_of_the_range_is_kept(clip: MakeClip, tmp_path: Path, kling_sim: Sim) -> None:
    src = clip("cam A001 #3 é.mov", width=640, height=360, rate="30000/1001", frames=200,
               timecode="01:00:59;28", barcode=True, pattern="plain")
    rng = SourceRange(str(src), 30, 100, "30000/1001")
    _, out = run_round_trip(src, rng, tmp_path, kling_sim)
    expected = timecode.offset("01:00:59;28", 30, Fraction(30000, 1001))
    assert expected == "01:01:01;00"  # crossed a minute: 01:01:00;00 and ;01 do not exist
    assert probe(out).timecode == expected
    check_result(out, src, rng)


def test_variable_frame_rate_becomes_constant(clip: MakeClip, tmp_path: Path,
                                              kling_sim: Sim) -> None:
    src = clip("phone vfr.mp4", width=640, height=360, rate="30", frames=140, vfr=True,
               barcode=True, pattern="plain")
    info = probe(src)
    assert info.video is not None and info.video.vfr
    rng = SourceRange(str(src), 10, 90, "30")
    plan, out = run_round_trip(src, rng, tmp_path, kling_sim)
    assert plan.to_cfr
    res = probe(out)
    assert res.video is not None and not res.video.vfr
    check_result(out, src, rng, barcode=False)
    # The VFR source dropped every 7th frame; the constant-rate frame k shows the source
    # picture on screen at k/30 s: a repeat where a frame was dropped, never a jump back.
    codes = read_barcodes(out)
    assert codes == sorted(codes)
    assert all(abs(c - (10 + k)) <= tolerance(rng.fps) + 1 for k, c in enumerate(codes))


def test_rotated_phone_clip(clip: MakeClip, tmp_path: Path, kling_sim: Sim) -> None:
    src = clip("rot.mp4", width=640, height=360, rate="30", frames=60, rotation=90)
    rng = SourceRange(str(src), 0, 60, "30")
    plan, out = run_round_trip(src, rng, tmp_path, kling_sim)
    assert plan.canvas[1] > plan.canvas[0]  # sent upright
    res = probe(out)
    assert res.video is not None and res.video.rotation == 0
    assert (res.video.width, res.video.height) == (360, 640)
    check_result(out, src, rng, barcode=False)


def test_anamorphic_source_is_sent_square_and_comes_back_anamorphic(
        clip: MakeClip, tmp_path: Path, kling_sim: Sim) -> None:
    """HDV-style 1440x1080 with 4:3 pixels: the provider sees the picture as it is shown
    (16:9, square pixels); the result is 1440x1080 at 4:3 again, frame for frame."""
    square = clip("hdv square.mp4", width=1440, height=1080, rate="25", frames=80,
                  barcode=True, pattern="plain")
    src = tmp_path / "hdv.mp4"
    subprocess.run([ffmpeg_bin(), "-v", "error", "-i", str(square), "-vf", "setsar=4/3",
                    "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-c:a", "copy",
                    str(src)], check=True)
    source = probe(src)
    assert source.video is not None and source.video.sar == Fraction(4, 3)
    rng = SourceRange(str(src), 4, 72, "25")
    plan, out = run_round_trip(src, rng, tmp_path, kling_sim)
    w, h = plan.canvas
    assert Fraction(w, h) == pytest.approx(Fraction(16, 9), rel=0.01)  # shown shape, square
    res = probe(out)
    assert res.video is not None and res.video.sar == Fraction(4, 3)
    check_result(out, src, rng)


def test_prores_source_comes_back_prores(clip: MakeClip, tmp_path: Path, kling_sim: Sim) -> None:
    src = clip("scope.mov", codec="prores", width=960, height=402, rate="24000/1001",
               frames=60, barcode=True, pattern="plain")
    rng = SourceRange(str(src), 5, 48, "24000/1001")
    _, out = run_round_trip(src, rng, tmp_path, kling_sim)
    res = probe(out)
    assert res.video is not None and res.video.codec == "prores"
    assert res.audio is not None and res.audio.codec == "pcm_s24le"
    check_result(out, src, rng)


def test_interlaced_source_is_deinterlaced_and_exact(clip: MakeClip, tmp_path: Path,
                                                     kling_sim: Sim) -> None:
    src = clip("broadcast.mp4", interlaced=True, width=720, height=480, rate="30000/1001",
               frames=60)
    rng = SourceRange(str(src), 3, 50, "30000/1001")
    plan, out = run_round_trip(src, rng, tmp_path, kling_sim)
    assert plan.deinterlace
    check_result(out, src, rng, barcode=False)


def test_23976_goes_frame_for_frame_at_24_and_comes_back_exact(
        clip: MakeClip, tmp_path: Path, kling_sim: Sim) -> None:
    src = clip("film.mov", width=640, height=360, rate="24000/1001", frames=120, barcode=True,
               pattern="plain")
    rng = SourceRange(str(src), 10, 100, "24000/1001")
    plan, out = run_round_trip(src, rng, tmp_path, kling_sim)
    assert plan.restamped and plan.fit_rate == 24
    fitted = probe(tmp_path / plan.segments[0].file)
    assert fitted.video is not None and fitted.audio is not None
    assert fitted.video.rate == 24 and fitted.video.frame_count == 100 + sum(plan.handles)
    assert fitted.audio.duration == pytest.approx(fitted.video.duration, abs=0.03)
    assert read_barcodes(tmp_path / plan.segments[0].file)[:3] == [
        plan.window_start, plan.window_start + 1, plan.window_start + 2]  # each frame once
    check_result(out, src, rng)


def test_slow_rate_is_raised_into_the_window(clip: MakeClip, tmp_path: Path,
                                            kling_sim: Sim) -> None:
    src = clip("timelapse.mp4", width=640, height=360, rate="12", frames=40, barcode=True,
               pattern="plain")
    rng = SourceRange(str(src), 0, 40, "12")
    plan, out = run_round_trip(src, rng, tmp_path, kling_sim)
    assert plan.fit_rate == 24
    check_result(out, src, rng)


def test_silent_source_gives_silent_result(clip: MakeClip, tmp_path: Path,
                                           kling_sim: Sim) -> None:
    src = clip("mute.mp4", width=640, height=360, rate="25", frames=80, audio=False)
    rng = SourceRange(str(src), 0, 80, "25")
    _, out = run_round_trip(src, rng, tmp_path, kling_sim)
    assert probe(out).audio is None


def test_range_past_the_end_is_refused_before_any_work(clip: MakeClip, tmp_path: Path) -> None:
    src = clip("short.mp4", width=320, height=180, rate="25", frames=30)
    with pytest.raises(RangeOutsideMedia) as caught:
        plan_fit(SourceRange(str(src), 20, 20, "25"), probe(src), LIMITS)
    assert str(src) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_scene_changes_are_found_only_where_a_cut_may_move(tmp_path: Path) -> None:
    import subprocess

    from kling_bridge.media.extract import detect_scene_cuts
    from kling_bridge.media.fit import scene_windows

    src = tmp_path / "two shots.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=10.8",
         "-f", "lavfi", "-i", "mandelbrot=s=320x180:r=25", "-filter_complex",
         "[1:v]trim=end_frame=230[b];[0:v][b]concat=n=2:v=1[v]", "-map", "[v]",
         "-c:v", "libx264", "-preset", "ultrafast", str(src)], check=True)
    info = probe(src)
    assert info.video is not None and info.video.frame_count == 500
    found: tuple[int, ...] = ()
    for lo, hi in scene_windows(500, 2):
        found += detect_scene_cuts(info, lo, hi - lo, Fraction(25))
    assert found == (270,)
    plan = plan_fit(SourceRange(str(src), 0, 500, "25"), info, LIMITS, scene_cuts=found)
    assert [s.src_start for s in plan.segments] == [0, 270]


@pytest.mark.parametrize(
    ("rate", "frames", "start", "first_sample"),
    [
        # near the start: audio decoded from its first sample
        ("30000/1001", 120, 37, round(Fraction(37 * 1001 * 48000, 30000))),
        # 36 s in: audio seeked, then trimmed to the sample
        ("25", 1000, 903, 903 * 48000 // 25),
    ],
)
def test_source_audio_is_laid_back_sample_exact(clip: MakeClip, tmp_path: Path, kling_sim: Sim,
                                                rate: str, frames: int, start: int,
                                                first_sample: int) -> None:
    from kling_bridge.media.synth import RAMP, read_ramp_start

    src = clip("camera original.mov", width=160, height=90, rate=rate, frames=frames,
               pattern="plain", ramp_audio=True, pcm_audio=True)
    rng = SourceRange(str(src), start, 25, rate)
    _, out = run_round_trip(src, rng, tmp_path, kling_sim)
    expected = [(first_sample + i) % RAMP for i in range(8)]
    assert read_ramp_start(out) == expected
    check_result(out, src, rng, barcode=False)
