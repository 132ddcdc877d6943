"""Where results go on the Sequencer, and what the dialogs say -- pure functions.

* A restyled clip goes on the first free channel above its source, over the same frames,
  so the editor can flip between them (mute one, unmute the other).
* A generated clip goes at its frame (the playhead or the first marker) on the first
  channel free for its whole length; its sound on the first free channel above that.
* Multi-shot: the selected markers in time order; each shot lasts until the next marker,
  in whole seconds (Kling's unit), the last one as long as the editor asks.

Occupancy is a list of ``(channel, first frame, end frame exclusive)``.
"""

from fractions import Fraction
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

MAX_CHANNEL = 128
Span = Tuple[int, int, int]


def free_channel(occupied: Iterable[Span], start: int, end: int, above: int = 0) -> int:
    """The lowest channel > ``above`` with nothing in ``[start, end)``."""
    busy = set()
    for channel, first, last in occupied:
        if first < end and last > start:
            busy.add(channel)
    channel = above + 1
    while channel in busy:
        channel += 1
    if channel > MAX_CHANNEL:
        raise ValueError("no free channel above %d between frames %d and %d (Blender has %d)"
                         % (above, start, end, MAX_CHANNEL))
    return channel


def seconds_to_frames(seconds: float, rate: Fraction) -> int:
    return round(Fraction(seconds).limit_denominator(1000) * rate)


def shots_from_markers(markers: Sequence[Tuple[int, str]], rate: Fraction,
                       last_seconds: int) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Shots (``{"prompt", "duration"}``) from ``(frame, name)`` markers, plus notes.

    A shot runs from its marker to the next one, rounded to whole seconds (at least 1);
    the last lasts ``last_seconds``. Unnamed markers cannot be shots.
    """
    notes = []  # type: List[str]
    ordered = sorted(markers, key=lambda m: m[0])
    shots = []
    for index, (frame, name) in enumerate(ordered):
        prompt = name.strip()
        if prompt.lower().startswith("kling:"):
            prompt = prompt[6:].strip()
        if not prompt:
            raise ValueError("the marker at frame %d has no name: its name is the shot's "
                             "words (select it, press F2)" % frame)
        if index + 1 < len(ordered):
            gap = Fraction(ordered[index + 1][0] - frame) / rate
            seconds = max(1, round(gap))
            if Fraction(seconds) != gap:
                notes.append("shot %d lasts %d s (the markers are %.2f s apart): shots are "
                             "whole seconds" % (index + 1, seconds, float(gap)))
        else:
            seconds = last_seconds
        shots.append({"prompt": prompt, "duration": seconds})
    return shots, notes


def price_text(answer: Dict[str, Any]) -> str:
    """What the dialogs say before sending: "draft, free", or the estimate."""
    if answer.get("draft"):
        return "draft, free (rendered locally by the %s provider)" % answer.get("provider")
    estimate = answer.get("estimate") or {}
    units = float(estimate.get("units", 0.0))
    if not answer.get("paid") or units == 0:
        return "free"
    return "about %g units (US$%.2f) on %s" % (round(units, 2), float(estimate.get("usd", 0)),
                                              answer.get("provider"))


def video_output(job: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    result = job.get("result") or {}
    for output in result.get("outputs", []):
        if output.get("role") == "video":
            return dict(output)
    return None


def job_props(job: Dict[str, Any], kind: str) -> Dict[str, Any]:
    """The custom properties written on a result strip: what made it, and what it cost."""
    spec = job.get("spec") or {}
    result = job.get("result") or {}
    meta = result.get("metadata") or {}
    look = spec.get("look") or {}
    video = video_output(job) or {}
    prompt = look.get("prompt") or spec.get("prompt") or ""
    if not prompt and spec.get("shots"):
        prompt = " | ".join(s.get("prompt", "") for s in spec["shots"])
    billed = job.get("billed") or {}
    return {
        "kling_job": job["id"],
        "kling_batch": job.get("batch_id", ""),
        "kling_kind": kind,
        "kling_preset": look.get("preset") or "",
        "kling_prompt": prompt,
        "kling_model": spec.get("model") or "",
        "kling_provider": job.get("provider", ""),
        "kling_price_units": float(billed.get("units", 0.0)),
        "kling_price_usd": float(billed.get("usd", 0.0)),
        "kling_draft": bool(meta.get("draft", video.get("draft", False))),
        "kling_variant": int(spec.get("variant", 0)),
    }


def result_name(base: str, job: Dict[str, Any]) -> str:
    """Strip names hold 63 bytes in Blender; keep the end (the look) readable."""
    spec = job.get("spec") or {}
    look = (spec.get("look") or {}).get("preset") or ("custom" if spec.get("look") else "")
    variant = int(spec.get("variant", 0))
    tail = (" · " + look if look else "") + (" v%d" % (variant + 1) if variant else "")
    room = 63 - len(tail.encode("utf-8"))
    head = base.encode("utf-8")[:max(8, room)].decode("utf-8", "ignore")
    return head + tail
