"""The budget, hold and throttle rules on their own (jobs/budget.py is pure: plain numbers
in, a verdict or a delay out)."""

from __future__ import annotations

from kling_bridge.jobs.budget import (
    Throttle,
    backoff_delay,
    check_budget,
    check_caps,
    duration_words,
    lookup_delay,
    throttled_again,
)


def test_caps_refuse_with_the_figures_and_what_to_change() -> None:
    over_job = check_budget(12.0, per_job=10.0, per_day=None, committed_today=0.0)
    assert not over_job.ok and "12" in over_job.message and "per_job_units" in over_job.hint
    over_day = check_budget(5.0, per_job=None, per_day=12.0, committed_today=8.0)
    assert not over_day.ok and "13" in over_day.message and "8 already" in over_day.message
    assert check_budget(4.0, per_job=10.0, per_day=12.0, committed_today=8.0).ok


def test_a_batch_is_held_to_its_dearest_job_and_its_total() -> None:
    # each job fits the per-job cap, the three together break the day's
    assert check_caps(4.0, 12.0, per_job=5.0, per_day=None, committed_today=0.0).ok
    verdict = check_caps(4.0, 12.0, per_job=5.0, per_day=10.0, committed_today=0.0)
    assert not verdict.ok and "daily cap" in verdict.message
    assert not check_caps(6.0, 6.0, per_job=5.0, per_day=100.0, committed_today=0.0).ok


def test_throttles_wait_retry_after_and_grow_when_repeated() -> None:
    first = throttled_again(None, 7.0, cap=60.0, jitter=0.0, now=100.0)
    assert first == Throttle(1, 107.0)  # the provider's Retry-After wins when longer
    later = first
    for _ in range(5):
        later = throttled_again(later, None, cap=60.0, jitter=0.99, now=100.0)
    assert later.count == 6 and 100.0 + 30.0 <= later.until <= 160.0  # capped


def test_the_shortest_throttle_is_a_second_unless_the_engine_says_less() -> None:
    assert throttled_again(None, None, cap=60.0, jitter=0.0, now=0.0).until == 1.0
    quick = throttled_again(None, None, cap=60.0, jitter=0.0, now=0.0, floor=0.05)
    assert quick.until == 0.05  # the emulator's tests: tasks last a fraction of a second
    for _ in range(3):
        quick = throttled_again(quick, None, cap=60.0, jitter=0.99, now=0.0, floor=0.05)
    assert 0.05 * 4 * 0.5 <= quick.until <= 0.05 * 8  # still grows when repeated


def test_pacing_stays_within_its_bounds() -> None:
    assert backoff_delay(1, 2.0, 60.0, 0.0) == 1.0
    assert backoff_delay(10, 2.0, 60.0, 0.999) <= 60.0
    assert lookup_delay(0.0, 5.0, 300.0, 0.0) == 2.5  # a brief outage: seconds
    assert lookup_delay(3600.0, 5.0, 300.0, 0.999) <= 300.0  # a long one: every cap


def test_durations_read_as_people_say_them() -> None:
    assert [duration_words(s) for s in (45, 600, 5400, 7200)] == [
        "45 s", "10 min", "1 h 30 min", "2 h"]
