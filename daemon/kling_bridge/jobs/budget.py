"""Spending and waiting: the budget caps, provider holds and throttles, and retry pacing.

Pure rules over plain numbers -- no clock, no store, no provider: the engine reads the
clock and the day's committed spend, asks here, and acts. So every cap and every delay is
tested on its own, and the engine holds no arithmetic of its own about money or time.

* **Budget caps** (``budget.per_job_units``, ``budget.per_day_units``) refuse work before
  anything is stored or sent (:func:`check_budget`, :func:`check_caps`).
* **A hold** (:class:`Hold`): a provider said the account is out of credits; its paid
  work waits until a person retries a job (presumably after buying credits).
* **A throttle** (:class:`Throttle`): consecutive rate-limit answers of one provider
  (account-wide), each backing off further (:func:`throttled_again`).
* **Pacing**: :func:`backoff_delay` between attempts, :func:`lookup_delay` between lookups
  of a task whose creation is in doubt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .records import JobError


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


def check_caps(largest_job: float, total: float, *, per_job: float | None,
               per_day: float | None, committed_today: float) -> BudgetVerdict:
    """A batch against both caps: its dearest job against the per-job cap, its total
    against what is left of the day's."""
    verdict = check_budget(largest_job, per_job=per_job, per_day=None, committed_today=0.0)
    if verdict.ok and per_day is not None:
        verdict = check_budget(total, per_job=None, per_day=per_day,
                               committed_today=committed_today)
    return verdict


def start_of_day(now: float) -> float:
    """Local midnight before ``now``: the daily cap counts from there."""
    lt = time.localtime(now)
    return time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))


@dataclass(frozen=True)
class Hold:
    """A provider's paid work is held: the account answered "no credits"."""

    error: JobError
    since: float


@dataclass(frozen=True)
class Throttle:
    """Consecutive rate-limit answers of one provider (account-wide, so engine-wide), and
    when the next send may go."""

    count: int = 0
    until: float = 0.0


def throttled_again(last: Throttle | None, retry_after: float | None, *, cap: float,
                    jitter: float, now: float, floor: float = 1.0) -> Throttle:
    """One more rate-limit answer: wait the provider's ``Retry-After`` if it is longer, at
    least ``floor`` (a second), and longer each time they repeat. Tests against the
    emulator, whose tasks last a fraction of a second, lower ``floor``."""
    count = (last.count if last else 0) + 1
    delay = max(floor, retry_after or 0.0, backoff_delay(count, floor, cap, jitter))
    return Throttle(count, now + delay)


def backoff_delay(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with full jitter in [0.5, 1.0] of the step (``jitter`` in [0, 1))."""
    step: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return step * (0.5 + 0.5 * jitter)


def lookup_delay(unknown_for: float, base: float, cap: float, jitter: float) -> float:
    """Seconds before looking an unresolved task up again: a share of how long it has been
    unresolved, within ``[base, cap]`` (with jitter in [0.5, 1.0]), so a brief outage is
    retried within seconds and a long one is asked about every ``cap`` seconds."""
    step = min(cap, max(base, 0.5 * max(0.0, unknown_for)))
    return step * (0.5 + 0.5 * jitter)


def duration_words(seconds: float) -> str:
    """``5400`` -> ``"1 h 30 min"``: for messages people read."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" + (f" {minutes} min" if minutes else "")
