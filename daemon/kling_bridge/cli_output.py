"""What the CLI shows and writes: progress, job tables, copies of results.

Copies into ``--out`` are made by the daemon (:mod:`kling_bridge.export`), atomic and never
overwriting: an existing name gets `` (2)``, `` (3)``... like a browser download, so
re-running a command never destroys an editor's earlier take; the result timeline beside
them links to those copies. A copy that fails (the drive filled up meanwhile) leaves no temp
file behind and says where the results still are.

A dry run's plan is shown job by job -- clip, range, look, price -- with the clips left out
and why, and the clips whose media is missing apart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

from .cli_checks import CliError
from .client import BridgeClient, BridgeError

BAR = 24


class Progress:
    """One line per job, redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self._last: dict[str, str] = {}
        self._drawn = 0
        self._started = time.monotonic()

    def update(self, batch: dict[str, Any]) -> None:
        if not self.enabled:
            return
        lines = [self._line(j) for j in batch["jobs"]]
        if self.tty:
            if self._drawn:
                self.stream.write(f"\x1b[{self._drawn}F")
            for line in lines:
                self.stream.write("\x1b[2K" + line + "\n")
            self._drawn = len(lines)
        else:
            for job, line in zip(batch["jobs"], lines, strict=True):
                key = f"{job['state']}:{int(job['progress'] * 10)}"
                if self._last.get(job["id"]) != key:
                    self._last[job["id"]] = key
                    self.stream.write(line + "\n")
        self.stream.flush()

    def _line(self, job: dict[str, Any]) -> str:
        done = int(job["progress"] * BAR)
        bar = "#" * done + "-" * (BAR - done)
        elapsed = time.monotonic() - self._started
        return (f"[{bar}] {job['progress'] * 100:3.0f}% {job['state']:<15} "
                f"{job['label'][:40]}  {elapsed:4.0f}s")

    def close(self) -> None:
        if self.enabled:
            self.stream.flush()


def emit(args: Any, data: Any, text: str) -> None:
    """``data`` as JSON with ``--json``, else ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text)


def print_jobs(jobs: Sequence[dict[str, Any]]) -> None:
    if not jobs:
        print("no jobs")
        return
    print(f"{'JOB':<25} {'STATE':<16} {'PROV':<6} {'COST':>7}  LABEL")
    for j in jobs:
        cost = j["billed"]["units"] or j["estimate"]["units"]
        print(f"{j['id']:<25} {j['state']:<16} {j['provider']:<6} {cost:>7g}  {j['label']}")
        if j.get("error"):
            print(f"{'':<25} {j['error']['message']}")


def export_to(client: BridgeClient, batch_id: str, out: Path,
              fmt: str | None) -> tuple[list[str], list[str]]:
    """The batch's outputs copied into ``out`` and, for a timeline, the result timeline
    written beside them linking to those copies (the daemon does both:
    ``POST /v1/batches/{id}/export``); the paths written and what the export said."""
    if fmt is not None:
        from .timeline import TimelineError, canonical_format

        try:
            fmt = canonical_format(fmt)
        except TimelineError as exc:
            raise BridgeError("bad_format", exc.problem, exc.hint or "") from exc
    try:
        done = client.export_batch(batch_id, str(out.expanduser().resolve()), fmt)
    except BridgeError as exc:
        if exc.code in ("bad_format", "bad_request", "bad_timeline"):
            raise
        raise CliError(
            f"--out {out}: could not copy the results ({exc.message})",
            f"the results are safe in the daemon; free space or fix the folder, then run "
            f"'kling-bridge jobs --batch {batch_id}' and copy them, or export again",
            code=1, reason="copy_failed") from None
    written = [f["path"] for f in done["files"]] + [t["path"] for t in done["timelines"]]
    return written, [str(n) for n in done.get("notes", [])]


# ---------------------------------------------------------------- plans and results


def _timecode(frame: int, rate: str) -> str:
    """Frames from the timeline's start -> HH:MM:SS:FF at its (rounded) rate, for people
    (a job knows where its clip sits in the cut, not where the cut's timecode starts)."""
    try:
        fps = max(1, round(Fraction(rate)))
    except (ValueError, ZeroDivisionError):
        return str(frame)
    ff = frame % fps
    secs = frame // fps
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}:{ff:02d}"


def describe_job(job: dict[str, Any]) -> str:
    """One line of a plan: what, which frames, which look, what it costs."""
    from .jobs.chain_model import PENDING_SOURCE  # a chain's links follow earlier results

    spec = job.get("spec") or {}
    price = job["estimate"]["units"]
    cost = f"{price:g} units" if price else "free"
    src = spec.get("source")
    if isinstance(src, dict):
        clip = spec.get("clip") or {}
        name = clip.get("name") or Path(src["path"]).name
        if src["path"] == PENDING_SOURCE:  # a chain's link: its clip is made by an earlier one
            name = "the clip an earlier link makes"
        first, count = src["start_frame"], src["frame_count"]
        where = ""
        if clip.get("record_duration"):
            at = _timecode(clip["record_start"], clip.get("timeline_rate", "24"))
            where = f", timeline +{at}"
        look = (spec.get("look") or {}).get("preset") or "custom look"
        words = (spec.get("look") or {}).get("prompt")
        look += f" + \"{words}\"" if words and look != "custom look" else (
            f" \"{words}\"" if words else "")
        variant = f" v{spec.get('variant', 0) + 1}" if spec.get("variant") else ""
        return (f"restyle {name}: frames {first}-{first + count - 1} ({count} at "
                f"{src['rate']} fps{where}), {look}{variant}: {cost}")
    if job.get("kind") == "lipsync":
        return f"lip-sync {Path(spec.get('audio', '')).name}: {cost}"
    words = spec.get("prompt") or "; ".join(s["prompt"] for s in spec.get("shots", [])) or "image"
    follows = ""
    if PENDING_SOURCE in (spec.get("feature_video"), spec.get("style_image")):
        follows = (" as the next shot after an earlier link's result"
                   if spec.get("feature_mode") == "next_shot"
                   else " in the look of an earlier link's result")
    place = spec.get("placement") or {}
    where = (f", timeline +{_timecode(place['record_start'], place.get('timeline_rate', '24'))}"
             if place else "")
    fit = spec.get("conform") or {}
    if fit.get("frames"):
        where += f", cut to {fit['frames']} frames at {fit['rate']} fps"
    return (f"generate \"{words[:60]}\"{follows}: {spec.get('duration', 5)} s{where}: "
            f"{cost}")


def plan_text(answer: dict[str, Any]) -> str:
    """What a dry run would do, for people (``--json`` prints the answer itself)."""
    from .timeline.selection import MISSING_MEDIA  # OTIO loads only when needed

    jobs = answer.get("jobs", [])
    est = answer["estimate"]
    price = ("free (draft)" if answer.get("draft")
             else f"about {est['units']:g} units (US${est['usd']:.2f})")
    lines = [f"dry run on {answer['provider']}: {len(jobs)} job(s), {price}; nothing was "
             "created"]
    lines += [f"  {describe_job(j)}" for j in jobs]
    skipped = answer.get("skipped", [])
    missing = [s for s in skipped if s["reason"].startswith(MISSING_MEDIA)]
    others = [s for s in skipped if not s["reason"].startswith(MISSING_MEDIA)]
    if others:
        lines.append(f"skipped ({len(others)}):")
        lines += _grouped(others, lambda r: r)
    if missing:
        lines.append(f"media missing ({len(missing)}): relink in the editor and export again")
        lines += _grouped(missing, lambda r: r.split(": relink")[0])
    # The reader's notes on missing media repeat the list above (or concern sound clips,
    # which a restyle does not use).
    lines += [f"note: {n}" for n in answer.get("notes", []) if MISSING_MEDIA not in n]
    return "\n".join(lines)


def _grouped(skipped: Sequence[dict[str, Any]], reason: Any) -> list[str]:
    """One line per clip name and reason (a clip used four times is one line, x4)."""
    counts: dict[tuple[str, str], int] = {}
    for s in skipped:
        key = (s["name"], reason(s["reason"]))
        counts[key] = counts.get(key, 0) + 1
    return [f"  {name}{f' (x{n})' if n > 1 else ''}: {why}" for (name, why), n in counts.items()]


def final_text(final: dict[str, Any], written: Sequence[str], notes: Sequence[str]) -> str:
    text = [f"batch {final['batch_id']}: {final['state']} (spent "
            f"{final['billed']['units']:g} units)"]
    for j in final["jobs"]:
        if j["state"] == "succeeded":
            video = next((o["path"] for o in j["result"]["outputs"] if o["role"] == "video"), "")
            text.append(f"  ok   {j['label']}: {video}")
        else:
            err = j.get("error") or {}
            text.append(f"  {j['state']}  {j['label']}: {err.get('message', '')}"
                        + (f" ({err['hint']})" if err.get("hint") else ""))
    text += [f"  wrote {w}" for w in written]
    text += [f"  note: {n}" for n in notes]
    return "\n".join(text)
