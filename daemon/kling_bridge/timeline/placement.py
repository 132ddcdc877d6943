"""Where finished jobs go on the timeline, decided once for every format that writes them.

Pure: results in, a plan out. Every writer -- the OTIO splice, the FCP 7 XML splice, the
EDLs, the adapters -- lays its new tracks out from the same :func:`plan_tracks`, so a clip
lands on the same frames whatever the editor exported:

- one new video track per look (named for the look), each restyled clip at exactly its
  source's record position and length; a second lane of the same look only where sources
  overlap (clips on stacked tracks);
- generated B-roll on its own track at its placement (a ``kling:`` marker, the playhead, a
  gap), trimmed to what was generated, with an audio track of the same file when it has sound.

Record frames count from the timeline's start (``ClipRef.record_start``), at the timeline's
rate; what a result shows of its file is worked out here too (:func:`source_in`), from the
file's own first timecode when the job recorded it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from kling_bridge.specs import ClipRef
from kling_bridge.timeline import provenance
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.rates import exact_rate

KEY = "kling_bridge"
BROLL_TRACK = "Kling B-roll"


@dataclass(frozen=True)
class ResultClip:
    """One finished job's video, as the timeline needs it (the API builds these from jobs).

    ``clip`` is the source clip's ClipRef for a restyle and the placement for a generation.
    ``frames``/``rate`` describe the output file; ``handle_before`` is how many of its frames
    come before the source's first frame (0 when the output is exactly the source range);
    ``timecode`` is the file's own first timecode (a restyle keeps its source's), so the
    new clip's source timecodes are the file's.
    """

    job_id: str
    kind: str  # "restyle" | "generate"
    path: str
    clip: ClipRef
    look: str = ""  # track name for restyles (preset id or "custom"); ignored for B-roll
    variant: int = 0
    frames: int | None = None
    rate: str | None = None
    handle_before: int = 0
    has_audio: bool = False
    provider: str = ""
    model: str = ""
    prompt: str = ""
    preset: str | None = None
    task_id: str | None = None
    cost: float | None = None
    draft: bool = False
    timecode: str | None = None
    width: int | None = None
    height: int | None = None

    def provenance(self) -> dict[str, Any]:
        """The full record (kept as metadata by the formats that keep metadata)."""
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "provider": self.provider,
            "model": self.model,
            "prompt": self.prompt,
            "preset": self.preset,
            "look": self.look,
            "variant": self.variant,
            "task_id": self.task_id,
            "cost": self.cost,
            "draft": self.draft,
            ("source_clip_id" if self.kind == "restyle" else "placement"): self.clip.clip_id,
        }

    @property
    def note(self) -> str:
        """One line a person reads: ``Kling O3 · film-noir · draft · job j1a2b3c4…``."""
        return provenance.note_of(self.job_id, self.kind, self.provider, self.model,
                                  self.look or self.preset or "", self.variant, self.draft)

    @property
    def track_label(self) -> str:
        label = self.look or self.preset or "custom"
        return label if self.variant == 0 else f"{label} v{self.variant + 1}"

    @property
    def media_rate(self) -> Fraction:
        return exact_rate(self.rate or self.clip.timeline_rate)

    @property
    def first_frame(self) -> int:
        """The file's first frame as a timecode frame number at its own rate (0 if unknown)."""
        return timecode_frames(self.timecode, self.media_rate) if self.timecode else 0


def timecode_frames(timecode: str | None, rate: Fraction) -> int:
    """``01:00:00:00`` -> frames at ``rate`` (``;`` for drop frame); 0 when not given."""
    if not timecode:
        return 0
    try:
        frames: float = otio.opentime.from_timecode(timecode, float(rate)).value
        return round(frames)
    except (ValueError, RuntimeError):
        return 0


@dataclass(frozen=True)
class Placed:
    """A result on a planned track: record start and length in timeline frames."""

    result: ResultClip
    start: int
    length: int


@dataclass
class PlannedTrack:
    """A new track: its name, kind (``Video``/``Audio``), what it holds and where."""

    name: str
    kind: str
    role: str  # "restyle" | "broll"
    look: str = ""
    variant: int = 0
    items: list[Placed] = field(default_factory=list)

    @property
    def meta(self) -> dict[str, Any]:
        if self.role == "restyle":
            return {"role": "restyle", "look": self.look, "variant": self.variant}
        return {"role": self.role}


def check_results(results: Iterable[ResultClip]) -> list[ResultClip]:
    """The results as a list, refusing one that has no length before anything is built."""
    checked = list(results)
    for result in checked:
        if result.clip.record_duration <= 0:
            raise TimelineError("result has no length on the timeline",
                                item=result.clip.name or result.job_id,
                                hint="build ResultClip.clip from the job's ClipRef")
    return checked


def plan_tracks(results: Iterable[ResultClip]) -> list[PlannedTrack]:
    """The new tracks for ``results``: looks first (in the order they first appear), then
    B-roll and its sound."""
    results = check_results(results)
    groups: dict[str, list[ResultClip]] = {}
    for result in results:
        if result.kind == "restyle":
            groups.setdefault(result.track_label, []).append(result)
    planned: list[PlannedTrack] = []
    for label, members in groups.items():
        planned.extend(_lanes(label, members, "Video", "restyle", members[0].look,
                              members[0].variant))
    generations = [r for r in results if r.kind != "restyle"]
    if generations:
        planned.extend(_lanes(BROLL_TRACK, generations, "Video", "broll"))
        with_sound = [g for g in generations if g.has_audio]
        if with_sound:
            planned.extend(_lanes(BROLL_TRACK + " audio", with_sound, "Audio", "broll"))
    return planned


def _lanes(label: str, members: list[ResultClip], kind: str, role: str, look: str = "",
           variant: int = 0) -> list[PlannedTrack]:
    """``members`` at their record frames; a clip that would overlap one already placed
    goes to the next lane of the same look."""
    lanes: list[PlannedTrack] = []
    ends: list[int] = []
    for result in sorted(members, key=lambda r: (r.clip.record_start, r.job_id)):
        start = result.clip.record_start
        length = placed_length(result)
        number = 0  # the first lane free by then
        while number < len(ends) and ends[number] > start:
            number += 1
        if number == len(lanes):
            name = label if not lanes else f"{label} ({len(lanes) + 1})"
            lanes.append(PlannedTrack(name, kind, role, look, variant))
            ends.append(0)
        lanes[number].items.append(Placed(result, start, length))
        ends[number] = start + length
    return lanes


def placed_length(result: ResultClip) -> int:
    """Restyles keep the source's length; B-roll is trimmed to what was generated."""
    wanted = result.clip.record_duration
    if result.kind == "restyle" or result.frames is None or result.rate is None:
        return wanted
    tl_rate = exact_rate(result.clip.timeline_rate)
    made = round(Fraction(result.frames) / exact_rate(result.rate) * tl_rate)
    return max(1, min(wanted, made))


def source_in(result: ResultClip) -> int:
    """The file frame (timecode numbering, at the file's rate) under the clip's first
    record frame: the file's first timecode plus the handle before the source."""
    return result.first_frame + result.handle_before


def in_timeline_frames(frames: int, result: ResultClip) -> Fraction:
    """``frames`` of the result's file counted at the timeline's rate (exact)."""
    return Fraction(frames) * exact_rate(result.clip.timeline_rate) / result.media_rate
