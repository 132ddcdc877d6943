"""Fitting an editor's clip into a provider's input limits, and remembering how to undo it.

Kling O3 takes 3-15.5 s, 700-4553 px a side, at most 8.3 Mpx, aspect 0.4-2, 24-60 fps and
answers at 24 fps. Editors' ranges are anything. :func:`plan_fit` decides -- as plain data,
with no ffmpeg and no disk -- how a range becomes provider inputs:

* too short: borrow the editor's handles first (real picture), then hold the last frame;
* too long: balanced segments within the maximum, cut at scene changes when one is near;
* too big / too small: one scale factor into the side and pixel limits, capped at the
  requested output resolution so nothing larger than needed is uploaded;
* too wide / too tall: letterbox or pillarbox into the aspect window, recorded as a
  fractional crop box because the provider may answer at another resolution;
* frame rate outside the window (or variable): a constant rate the provider takes;
* bytes: a bitrate cap that keeps every segment under the size limit.

The plan is the contract between extraction (:mod:`.extract`) and conform
(:mod:`.conform`); it is stored as JSON in the job's workdir so a finish after a crash
conforms exactly what was sent.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from ..specs import InputLimits, SourceRange, rate_str
from . import timecode
from .errors import NotAVideo, RangeOutsideMedia
from .probe import MediaInfo

#: Seconds kept inside the provider's duration window, against container rounding.
DURATION_MARGIN = 0.1

#: Short side of each output resolution; inputs are not sent larger than needed.
RESOLUTION_SHORT_SIDE = {"720p": 720, "1080p": 1080, "4k": 2160}


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Segment:
    """One provider input: ``src_frames`` source frames from ``src_start``, then a hold."""

    index: int
    src_start: int  # first source frame (file frame numbering)
    src_frames: int
    fit_frames: int  # frames of picture in the fitted file, at the fit rate
    pad_frames: int  # frames holding the last picture after them (to reach the minimum)
    file: str  # name inside the job's workdir

    def seconds(self, fit_rate: Fraction) -> float:
        return float((self.fit_frames + self.pad_frames) / fit_rate)

    def content_seconds(self, clock: Fraction) -> Fraction:
        """Exact seconds of source picture this segment carries, its frames laid at
        ``clock`` (:attr:`FitPlan.clock`)."""
        return Fraction(self.src_frames) / clock


@dataclass(frozen=True)
class Encode:
    video_kbps_max: int
    crf: int = 17
    preset: str = "veryfast"
    audio: bool = False
    audio_kbps: int = 192
    audio_channels: int = 2
    audio_rate: int = 48000


@dataclass(frozen=True)
class Target:
    """What the conformed result must be: the source range, frame for frame."""

    width: int  # decoded frame size of the source (rotation applied)
    height: int
    sar: Fraction
    rate: Fraction
    frame_count: int
    timecode: str | None  # timecode of the range's first frame
    pix_fmt: str = "yuv420p"
    codec: str = "h264"  # h264 | prores: ProRes sources come back as ProRes


@dataclass(frozen=True)
class FitPlan:
    source: SourceRange
    media: MediaInfo
    rate: Fraction  # the range's rate: frames are numbered at it
    window_start: int  # first source frame sent (handles included)
    window_frames: int
    handles: tuple[int, int]  # frames borrowed before / after the range
    segments: tuple[Segment, ...]
    canvas: tuple[int, int]  # fitted width, height
    content: Box  # where the picture sits on the canvas (the rest is padding)
    fit_rate: Fraction
    deinterlace: bool
    to_cfr: bool
    encode: Encode
    target: Target
    notes: tuple[str, ...] = field(default=())
    restamped: bool = False  # source frames sent one for one at ``fit_rate`` (see restamp_rate)

    @property
    def clock(self) -> Fraction:
        """The rate the source's frames are laid at in the fitted files: the source's own
        (time kept; frames repeated or dropped to reach ``fit_rate``), or ``fit_rate`` itself
        when restamped (every frame once, the file playing a little fast)."""
        return self.fit_rate if self.restamped else self.rate

    @property
    def crop_fractions(self) -> tuple[Fraction, Fraction, Fraction, Fraction] | None:
        """x, y, w, h of the picture as fractions of the frame, or None when unpadded."""
        w, h = self.canvas
        b = self.content
        if (b.x, b.y, b.width, b.height) == (0, 0, w, h):
            return None
        return (Fraction(b.x, w), Fraction(b.y, h), Fraction(b.width, w), Fraction(b.height, h))

    @property
    def range_offset(self) -> int:
        """Frames from the window's start to the range's first frame (the handle used)."""
        return self.handles[0]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _jsonable(asdict(self) | {"media": self.media.to_dict()})
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> FitPlan:
        d = dict(data)
        d["source"] = SourceRange(**d["source"])
        d["media"] = MediaInfo.from_dict(d["media"])
        d["rate"] = Fraction(d["rate"])
        d["fit_rate"] = Fraction(d["fit_rate"])
        d["handles"] = tuple(d["handles"])
        d["segments"] = tuple(Segment(**s) for s in d["segments"])
        d["canvas"] = tuple(d["canvas"])
        d["content"] = Box(**d["content"])
        d["encode"] = Encode(**d["encode"])
        t = dict(d["target"])
        t["sar"], t["rate"] = Fraction(t["sar"]), Fraction(t["rate"])
        d["target"] = Target(**t)
        d["notes"] = tuple(d.get("notes", ()))
        return FitPlan(**d)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Fraction):
        return rate_str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --- time -------------------------------------------------------------------------------


#: How far a source's rate may be from one the provider takes and still be sent frame for
#: frame at it: 23.976 -> 24 is 0.1 %, the film-to-video convention.
RESTAMP_TOLERANCE = Fraction(1, 1000)


def restamp_rate(rate: Fraction, limits: InputLimits) -> Fraction | None:
    """The provider's rate to stamp ``rate``'s frames at one for one, when it is that close.

    23.976 fps sits just under Kling's 24 fps floor. Doubling every frame (47.952) would
    send twice the frames and leave the provider to pick every other one, half a frame
    either way of the source's timing; stamped at 24 -- exactly the rate Kling answers at
    -- answer frame N is source frame N, and conform stretches time back by 1001/1000.
    """
    lo, hi = Fraction(limits.fps_min), Fraction(limits.fps_max)
    if lo <= rate <= hi:
        return None
    near = lo if rate < lo else hi
    return near if abs(near / rate - 1) <= RESTAMP_TOLERANCE else None


def fit_rate_for(rate: Fraction, limits: InputLimits) -> Fraction:
    """A constant rate inside the window that divides or multiplies ``rate`` evenly.

    12 fps becomes 24 (each frame twice), 120 becomes 60 (every other frame): even
    repetition keeps motion regular, and conform maps back by time either way.
    """
    lo, hi = Fraction(limits.fps_min), Fraction(limits.fps_max)
    if lo <= rate <= hi:
        return rate
    if rate < lo:
        return rate * math.ceil(lo / rate)
    divided = rate / math.ceil(rate / hi)
    return divided if divided >= lo else hi  # no even divisor fits: take the maximum


def frames_at(src_frames: int, rate: Fraction, fit_rate: Fraction) -> int:
    """Frames the fitted file holds for ``src_frames`` source frames (same span of time)."""
    if fit_rate == rate:
        return src_frames
    return max(1, math.ceil(Fraction(src_frames) * fit_rate / rate))


def balanced_cuts(
    total: int, count: int, *, min_len: int, max_len: int, scene_cuts: tuple[int, ...] = ()
) -> list[int]:
    """Cut ``total`` frames into ``count`` pieces, each within [min_len, max_len].

    Balanced lengths first; each cut then moves to the nearest scene change (frame offsets
    into the range) within an eighth of a piece, as long as every piece still fits -- a cut
    on a scene change hides the seam between two provider answers.
    """
    if count <= 1:
        return []
    cuts: list[int] = []
    prev = 0
    window = _scene_reach(total, count)
    for i in range(1, count):
        remaining_after = count - i
        ideal = prev + round((total - prev) / (count - i + 1))
        lo = max(prev + min_len, total - remaining_after * max_len)
        hi = min(prev + max_len, total - remaining_after * min_len)
        options = [c for c in scene_cuts if lo <= c <= hi and abs(c - ideal) <= window]
        cut = min(options, key=lambda c: (abs(c - ideal), c)) if options else ideal
        cut = min(max(cut, lo), hi)
        cuts.append(cut)
        prev = cut
    return cuts


def _scene_reach(total: int, count: int) -> int:
    return max(1, total // count // 8)


def scene_windows(total: int, count: int) -> list[tuple[int, int]]:
    """Frame offsets (start, end) where a scene change could move a cut of :func:`balanced_cuts`.

    Only these stretches need decoding to find scene changes -- about a quarter of a split
    range instead of all of it.
    """
    reach = _scene_reach(total, count)
    out = []
    for i in range(1, count):
        ideal = round(i * total / count)
        out.append((max(0, ideal - reach), min(total, ideal + reach + 1)))
    return out


# --- space ------------------------------------------------------------------------------


def _even_up(n: float | Fraction) -> int:
    v = math.ceil(n)
    return v + (v % 2)


def _even(n: float | Fraction) -> int:
    v = round(n)
    return max(2, v - (v % 2))


def plan_geometry(
    display_w: int, display_h: int, limits: InputLimits, short_side_cap: int | None
) -> tuple[tuple[int, int], Box, list[str]]:
    """Canvas and picture box for a ``display_w``x``display_h`` (square-pixel) picture."""
    notes: list[str] = []
    aspect = Fraction(display_w, display_h)
    amin = Fraction(limits.aspect_min).limit_denominator(1000)
    amax = Fraction(limits.aspect_max).limit_denominator(1000)
    cw0, ch0 = Fraction(display_w), Fraction(display_h)
    if aspect > amax:
        ch0 = cw0 / amax
        notes.append(f"letterboxed {float(aspect):.3f}:1 into {float(amax):.2f}:1")
    elif aspect < amin:
        cw0 = ch0 * amin
        notes.append(f"pillarboxed {float(aspect):.3f}:1 into {float(amin):.2f}:1")
    short, long_ = min(cw0, ch0), max(cw0, ch0)
    scale = Fraction(1)
    if short_side_cap and short * scale > short_side_cap:
        scale = Fraction(short_side_cap) / short
    if short * scale < limits.side_min:
        scale = Fraction(limits.side_min) / short
    if long_ * scale > limits.side_max:
        scale = Fraction(limits.side_max) / long_
    if cw0 * ch0 * scale * scale > limits.max_pixels:
        scale = Fraction(math.sqrt(limits.max_pixels / float(cw0 * ch0))).limit_denominator(10**6)
    if scale != 1:
        notes.append(f"scaled by {float(scale):.4f}")
    pw, ph = _even(display_w * scale), _even(display_h * scale)
    while True:
        cw = max(pw, _even_up(ph * amin), _even_up(limits.side_min))
        ch = max(ph, _even_up(pw / amax), _even_up(limits.side_min))
        if cw * ch <= limits.max_pixels and max(cw, ch) <= limits.side_max:
            break
        pw, ph = _even(pw * 0.995), _even(ph * 0.995)  # rounding pushed us over: shrink
    box = Box((cw - pw) // 2 // 2 * 2, (ch - ph) // 2 // 2 * 2, pw, ph)
    return (cw, ch), box, notes


# --- the plan ---------------------------------------------------------------------------


def seconds_window(limits: InputLimits) -> tuple[Fraction, Fraction]:
    """The shortest and longest provider input planned for: the provider's window with
    :data:`DURATION_MARGIN` kept inside each end."""
    return (Fraction(limits.video_min_seconds + DURATION_MARGIN).limit_denominator(1000),
            Fraction(limits.video_max_seconds - DURATION_MARGIN).limit_denominator(1000))


def frame_window(clock: Fraction, limits: InputLimits) -> tuple[int, int]:
    """The fewest and most source frames (laid at ``clock``) one provider input carries."""
    lo, hi = seconds_window(limits)
    return math.ceil(lo * clock), math.floor(hi * clock)


def segment_count(frames: int, max_frames: int) -> int:
    """The split rule: the fewest pieces of at most ``max_frames`` (balanced by
    :func:`balanced_cuts`)."""
    return max(1, math.ceil(frames / max_frames))


def planned_seconds(source: SourceRange, limits: InputLimits) -> list[float]:
    """Seconds of each provider input :func:`plan_fit` will make of ``source``, known
    without its media -- for a price shown before anything is prepared. The same window,
    clock and split as the plan; pieces under the minimum are held (or padded from handles)
    up to it, as the plan does."""
    rate = source.fps
    clock = restamp_rate(rate, limits) or rate
    min_src, max_src = frame_window(clock, limits)
    n = max(1, source.frame_count)
    count = segment_count(n, max_src)
    cuts = balanced_cuts(n, count, min_len=min_src, max_len=max_src)
    bounds = [0, *cuts, n]
    return [float(max(b - a, min_src) / clock) for a, b in itertools.pairwise(bounds)]


def check_range(source: SourceRange, media: MediaInfo) -> None:
    """Refuse a range that is not wholly inside the file, naming both."""
    v = media.video
    if v is None:
        raise NotAVideo(media.path, "is audio only (no video stream)", "choose a video clip")
    if source.frame_count < 1 or source.start_frame < 0:
        raise RangeOutsideMedia(
            media.path, f"range start {source.start_frame}, {source.frame_count} frames is empty "
            "or negative", "select at least one frame of the clip")
    end = source.start_frame + source.frame_count
    if end > v.frame_count:
        raise RangeOutsideMedia(
            media.path,
            f"range frames {source.start_frame}-{end - 1} reach past the media's last frame "
            f"({v.frame_count - 1}; {v.frame_count} frames at {rate_str(v.rate)} fps)",
            "the clip may be trimmed or its media replaced: relink or shorten the range",
        )


def plan_fit(
    source: SourceRange,
    media: MediaInfo,
    limits: InputLimits,
    *,
    resolution: str = "1080p",
    scene_cuts: tuple[int, ...] = (),
    keep_audio: bool = True,
    crf: int = 17,
    preset: str = "veryfast",
) -> FitPlan:
    """Plan provider inputs for ``source`` (pure: same inputs, same plan, nothing touched).

    ``scene_cuts`` are file frame numbers of scene changes inside the range (optional).
    """
    check_range(source, media)
    v = media.video
    assert v is not None
    rate = source.fps
    restamp = restamp_rate(rate, limits)
    fit_rate = restamp or fit_rate_for(rate, limits)
    clock = fit_rate if restamp else rate  # FitPlan.clock
    notes: list[str] = []
    if restamp:
        notes.append(f"frame rate {rate_str(rate)} sent frame for frame as {rate_str(fit_rate)}"
                     " (played a little fast; the result is retimed back)")
    elif fit_rate != rate:
        notes.append(f"frame rate {rate_str(rate)} sent as {rate_str(fit_rate)}")
    if v.vfr:
        notes.append(f"variable frame rate made constant at {rate_str(rate)}")
    if v.interlaced:
        notes.append(f"deinterlaced ({v.field_order})")

    n = source.frame_count
    min_s, _ = seconds_window(limits)
    min_src, max_src = frame_window(clock, limits)
    hb = max(0, min(source.handle_before, source.start_frame))
    ha = max(0, min(source.handle_after, v.frame_count - source.start_frame - n))
    used_b = used_a = 0
    if n < min_src:
        need = min_src - n
        used_b = min(hb, need // 2)
        used_a = min(ha, need - used_b)
        used_b = min(hb, need - used_a)
        if used_b or used_a:
            notes.append(f"handles used: {used_b} before, {used_a} after")
    w_start = source.start_frame - used_b
    w_frames = n + used_b + used_a

    segments: list[Segment] = []
    if w_frames > max_src:
        count = segment_count(w_frames, max_src)
        rel_cuts = tuple(c - w_start for c in scene_cuts if w_start < c < w_start + w_frames)
        cuts = balanced_cuts(w_frames, count, min_len=min_src, max_len=max_src,
                             scene_cuts=rel_cuts)
        bounds = [0, *cuts, w_frames]
        notes.append(f"split into {count} segments")
    else:
        bounds = [0, w_frames]
    for i in range(len(bounds) - 1):
        s_frames = bounds[i + 1] - bounds[i]
        f_frames = frames_at(s_frames, clock, fit_rate)
        min_fit = math.ceil(min_s * fit_rate)
        pad = max(0, min_fit - f_frames)
        if pad:
            notes.append(f"segment {i}: held the last frame for {pad} frames")
        segments.append(Segment(i, w_start + bounds[i], s_frames, f_frames, pad,
                                f"segment_{i:02d}.mp4"))

    cap = RESOLUTION_SHORT_SIDE.get(resolution.lower())
    canvas, box, geo_notes = plan_geometry(v.display_width, v.display_height, limits, cap)
    notes.extend(geo_notes)

    longest = max(s.seconds(fit_rate) for s in segments)
    has_audio = keep_audio and media.audio is not None
    audio_kbps = 192 if has_audio else 0
    # VBV bounds the size to about maxrate * (duration + one buffer); keep 10 % spare.
    budget_kbps = int(limits.max_bytes * 8 * 0.9 / 1000 / (longest + 1.0)) - audio_kbps
    quality_kbps = int(canvas[0] * canvas[1] * float(fit_rate) * 0.35 / 1000)
    encode = Encode(
        video_kbps_max=max(500, min(budget_kbps, max(quality_kbps, 8000))),
        crf=crf, preset=preset, audio=has_audio, audio_kbps=audio_kbps,
        audio_channels=min(2, media.audio.channels) if media.audio else 2,
        audio_rate=media.audio.sample_rate if media.audio else 48000,
    )
    tc = None
    if media.timecode:
        try:
            tc = timecode.offset(media.timecode, source.start_frame, rate)
        except timecode.TimecodeError:
            notes.append(f"timecode {media.timecode!r} not understood; result has none")
    prores = v.codec == "prores"
    target = Target(
        width=v.frame_width, height=v.frame_height,
        sar=Fraction(1) if v.rotated else v.sar, rate=rate, frame_count=n, timecode=tc,
        pix_fmt=v.pix_fmt if prores else "yuv420p", codec="prores" if prores else "h264",
    )
    return FitPlan(
        source=source, media=media, rate=rate, window_start=w_start, window_frames=w_frames,
        handles=(used_b, used_a), segments=tuple(segments), canvas=canvas, content=box,
        fit_rate=fit_rate, deinterlace=v.interlaced, to_cfr=v.vfr, encode=encode,
        target=target, notes=tuple(notes), restamped=restamp is not None,
    )


def violations(width: int, height: int, rate: Fraction, seconds: float, size_bytes: int,
               container: str, limits: InputLimits) -> list[str]:
    """Every limit a (fitted) file breaks; empty when the provider will take it."""
    out: list[str] = []
    if not limits.video_min_seconds <= seconds <= limits.video_max_seconds:
        out.append(f"duration {seconds:.3f}s outside {limits.video_min_seconds}-"
                   f"{limits.video_max_seconds}s")
    for side in (width, height):
        if not limits.side_min <= side <= limits.side_max:
            out.append(f"side {side}px outside {limits.side_min}-{limits.side_max}px")
    if width * height > limits.max_pixels:
        out.append(f"{width * height} pixels over {limits.max_pixels}")
    if not limits.aspect_min <= width / height <= limits.aspect_max:
        out.append(f"aspect {width / height:.3f} outside {limits.aspect_min}-{limits.aspect_max}")
    if not limits.fps_min <= float(rate) <= limits.fps_max:
        out.append(f"{float(rate):.3f} fps outside {limits.fps_min}-{limits.fps_max}")
    if size_bytes > limits.max_bytes:
        out.append(f"{size_bytes} bytes over {limits.max_bytes}")
    if container not in ("mp4", "mov"):
        out.append(f"container {container} is not mp4/mov")
    return out
