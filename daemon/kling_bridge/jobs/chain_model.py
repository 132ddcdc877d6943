"""Chains of jobs, as pure data: what a link is, how an earlier result feeds it, and what
state a chain is in.

Editors chain the two models -- generate a clip, then restyle it; restyle a clip, then make
B-roll in its look; continue a shot -- and each chain is one action. A chain is a handful of
*links*; each link is an ordinary job (its own spec, its own idempotency keys, the engine's
crash recovery) whose input is an earlier job's result. What is decided before anything is
paid, and kept in SQLite with the chain, is each link's spec *template*, the job id it will
have and what it will cost; :func:`bind` turns a template and its parent's finished job
into the link's spec when the parent succeeds. Nothing here does I/O (see
:mod:`.chains` for the driver).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from ..specs import (
    ClipRef,
    ConformTarget,
    GenerateSpec,
    JobResult,
    JobSpec,
    RestyleSpec,
    SourceRange,
    parse_rate,
    spec_from_dict,
)
from . import model as m

#: How a parent's result feeds a link: as the clip to restyle, as a ``feature_video``
#: (its look to follow, or the shot to continue), or as one frame (``refer_image``).
FEEDS = ("source", "feature", "frame")
ID_PREFIX = "c"
#: Placeholder path of a source not made yet (a restyle of a clip still to be generated).
PENDING_SOURCE = "<the result of an earlier link>"

#: Link states beyond the job states: not created yet, and never to be (its parent ended
#: without a result, or its result could not feed it).
WAITING, BLOCKED, REFUSED = "waiting", "blocked", "refused"


class BindError(Exception):
    """A parent's result cannot feed its link (no video, no frame count)."""


@dataclass(frozen=True)
class LinkPlan:
    """One link as asked for: ``after`` is the index of the link (of the same chain) whose
    result feeds it, ``after_job`` an existing job's id instead; neither: a first link."""

    kind: m.JobKind
    template: JobSpec
    label: str
    after: int | None = None
    after_job: str | None = None
    feed: str = "source"


@dataclass(frozen=True)
class Link:
    """A link as stored: its job id is fixed when the chain is recorded."""

    chain_id: str
    index: int
    job_id: str
    kind: m.JobKind
    parent: str  # the job whose result feeds it ("" for a first link)
    feed: str
    template: dict[str, Any]
    label: str
    estimate_units: float
    created: bool = False
    error: str = ""


def pending_source(seconds: float, rate: str = "24") -> SourceRange:
    """A restyle's source before it exists: only its length counts (for the price)."""
    fps = parse_rate(rate)
    return SourceRange(PENDING_SOURCE, 0, max(1, round(seconds * fps)), rate)


def _video_of(parent: m.Job) -> tuple[JobResult, Any]:
    if parent.state is not m.JobState.SUCCEEDED or not parent.result:
        raise BindError(f"{parent.label or parent.id} has no result")
    result = JobResult.from_dict(dict(parent.result))
    video = result.video()
    if video is None or not video.frames or not video.rate:
        raise BindError(f"the result of {parent.label or parent.id} has no video to pass on")
    return result, video


def _parent_ref(parent: m.Job, frames: int, rate: str) -> ClipRef | None:
    """Where the parent's result sits (a restyle over its clip, a generation at its place),
    with its length on the timeline."""
    spec = parent.spec
    raw = spec.get("clip") or spec.get("placement")
    if not isinstance(raw, dict):
        return None
    ref = ClipRef(**{k: v for k, v in raw.items() if k in ClipRef.__dataclass_fields__})
    if not ref.record_duration:
        ref = replace(ref, record_duration=timeline_frames(frames, rate, ref.timeline_rate))
    return ref


def timeline_frames(frames: int, media_rate: str, timeline_rate: str) -> int:
    """``frames`` of media at ``media_rate`` as frames of a timeline at ``timeline_rate``."""
    seconds = Fraction(frames) / parse_rate(media_rate)
    return max(1, round(seconds * parse_rate(timeline_rate)))


def bind(link: Link, parent: m.Job) -> JobSpec:
    """The link's spec, now that ``parent`` (the job feeding it) has succeeded."""
    result, video = _video_of(parent)
    template = spec_from_dict(str(link.kind), dict(link.template))
    if link.feed == "source":
        if not isinstance(template, RestyleSpec):
            raise BindError(f"link {link.index + 1} restyles nothing")
        source = SourceRange(video.path, 0, int(video.frames), str(video.rate))
        clip = template.clip
        if clip is not None:
            clip = replace(clip, record_duration=timeline_frames(
                int(video.frames), str(video.rate), clip.timeline_rate))
        return replace(template, source=source, clip=clip)
    if not isinstance(template, GenerateSpec):
        raise BindError(f"link {link.index + 1} generates nothing")
    words = template.prompt
    if parent.kind is m.JobKind.RESTYLE:
        # the look in words for new footage (not the edit's "Restyle @video_1 as...")
        look = str(result.metadata.get("look_words") or result.metadata.get("look") or "")
        words = ". ".join(w.strip().rstrip(".") for w in (look, words) if w.strip())
    placement, conform = template.placement, template.conform
    ref = _parent_ref(parent, int(video.frames), str(video.rate))
    if placement is None and ref is not None:
        # B-roll right after the clip it follows, on the B-roll track, at the timeline's
        # rate and the clip's picture size, exactly as long as asked.
        frames = round(template.duration * parse_rate(ref.timeline_rate))
        if conform is None:
            conform = ConformTarget(ref.timeline_rate, 0, 0, frames=frames)
        placement = ClipRef(clip_id=f"after:{ref.clip_id}", name=link.label, track_index=-1,
                            record_start=ref.record_start + ref.record_duration,
                            record_duration=conform.frames or frames,
                            timeline_rate=ref.timeline_rate)
    if link.feed == "frame":
        return replace(template, prompt=words, style_image=video.path, placement=placement,
                       conform=conform)
    return replace(template, prompt=words, feature_video=video.path, placement=placement,
                   conform=conform)


def link_state(link: Link, job: m.Job | None, parent: m.Job | None) -> str:
    """A created link is its job's state; one not created waits for its parent, or is
    blocked for good (until its parent is retried) when the parent ended otherwise."""
    if link.created and job is not None:
        return str(job.state)
    if link.error:
        return REFUSED
    if not link.parent or parent is None:
        return WAITING
    if parent.state in (m.JobState.FAILED, m.JobState.CANCELLED, m.JobState.NEEDS_ATTENTION):
        return BLOCKED
    return WAITING


_LIVE = {WAITING, *(str(s) for s in (*m.ACTIVE, m.JobState.QUEUED))}


def chain_state(states: list[str]) -> str:
    """One word for a chain, from its links' states (in order)."""
    if any(s in _LIVE for s in states):
        return "running"
    if all(s == str(m.JobState.SUCCEEDED) for s in states):
        return "succeeded"
    if str(m.JobState.NEEDS_ATTENTION) in states:
        return "needs_attention"
    if str(m.JobState.SUCCEEDED) in states:
        return "partial"  # earlier results kept, a later link refused or failed
    if all(s in (str(m.JobState.CANCELLED), BLOCKED) for s in states):
        return "cancelled"
    return "failed"
