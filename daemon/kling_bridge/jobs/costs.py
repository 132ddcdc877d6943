"""Cost before spending: estimates from a job's spec, and the budget caps.

The API must show a price *before* a job is prepared (fitting a 40 s clip takes time), so
this module predicts the provider requests a spec will become -- the media fitter's own
split (:func:`kling_bridge.media.fit.planned_seconds`) -- and asks the provider to price
them. After preparation the engine prices the
real requests again and enforces the caps on that figure, before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..media.fit import planned_seconds
from ..providers.base import (
    AudioMode,
    Cost,
    Operation,
    Provider,
    Resolution,
    TaskRequest,
)
from ..specs import GenerateSpec, InputLimits, JobSpec, LipsyncSpec, RestyleSpec


def predicted_requests(spec: JobSpec, limits: InputLimits) -> list[TaskRequest]:
    """The requests ``spec`` will become, for pricing only (no media is touched)."""
    if isinstance(spec, RestyleSpec):
        audio = AudioMode.ORIGINAL if spec.keep_audio else AudioMode.OFF
        return [
            TaskRequest(
                operation=Operation.EDIT,
                model=spec.model,
                video=Path(spec.source.path),
                video_duration=round(s, 3),
                resolution=Resolution(spec.resolution),
                audio_mode=audio,
            )
            for s in planned_seconds(spec.source, limits)
        ]
    if isinstance(spec, GenerateSpec):
        duration = sum(s.duration for s in spec.shots) if spec.shots else spec.duration
        return [
            TaskRequest(
                operation=Operation.IMAGE_TO_VIDEO if spec.image else Operation.TEXT_TO_VIDEO,
                model=spec.model,
                prompt=spec.prompt,
                shots=spec.shots,
                duration=duration,
                resolution=Resolution(spec.resolution),
                audio_mode=AudioMode.NATIVE if spec.audio else AudioMode.OFF,
                # a video reference prices the task as "O3 with a video input"
                feature_video=Path(spec.feature_video) if spec.feature_video else None,
                feature_mode=spec.feature_mode,
                refer_images=tuple(Path(p) for p in spec.refer_images),
                elements=spec.elements,
            )
        ]
    assert isinstance(spec, LipsyncSpec)
    end = spec.audio_end if spec.audio_end is not None else spec.audio_start + 5.0
    return [
        TaskRequest(
            operation=Operation.LIPSYNC,
            model="lipsync",
            audio=Path(spec.audio),
            audio_range=(spec.audio_start, end),
            resolution=Resolution(spec.resolution),
        )
    ]


def estimate_spec(spec: JobSpec, provider: Provider) -> Cost:
    total = Cost()
    for request in predicted_requests(spec, provider.limits):
        total = total + provider.estimate(request)
    return total


@dataclass(frozen=True)
class BudgetVerdict:
    ok: bool
    message: str = ""
    hint: str = ""


def check_budget(
    estimate_units: float,
    *,
    per_job: float | None,
    per_day: float | None,
    committed_today: float,
) -> BudgetVerdict:
    """Refuse work that would break a cap -- before anything is sent (pure)."""
    if per_job is not None and estimate_units > per_job:
        return BudgetVerdict(
            False,
            f"this job would cost about {estimate_units:g} units, over the per-job cap of "
            f"{per_job:g}",
            "lower the resolution, shorten the clip, or raise budget.per_job_units in config.toml",
        )
    if per_day is not None and committed_today + estimate_units > per_day:
        return BudgetVerdict(
            False,
            f"today's spend would reach {committed_today + estimate_units:g} units, over the "
            f"daily cap of {per_day:g} ({committed_today:g} already committed)",
            "wait until tomorrow or raise budget.per_day_units in config.toml",
        )
    return BudgetVerdict(True)
