"""One rate rule for media, timelines and specs (kling_bridge/rates.py): a file's measured
rate, an adapter's float and a request's number that stand for the same standard rate come
out as the same exact rate, so a clip, its timeline and its job agree to the frame."""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio
import pytest

from kling_bridge.rates import STANDARD_RATES, snap_rate, standard_rate
from kling_bridge.specs import parse_rate
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.rates import snap_rate as timeline_snap


@pytest.mark.parametrize(("written", "exact"), [
    (23.976, Fraction(24000, 1001)), (23.98, Fraction(24000, 1001)),
    (29.97, Fraction(30000, 1001)), (59.94, Fraction(60000, 1001)),
    (119.88, Fraction(120000, 1001)), (25.0, Fraction(25)), (15.0, Fraction(15)),
    (15.5, Fraction(31, 2)), (7.3, Fraction(73, 10)),
])
def test_the_layers_agree_on_a_rate(written: float, exact: Fraction) -> None:
    assert snap_rate(Fraction(written)) == exact
    assert parse_rate(written) == exact
    assert exact_rate(written) == exact
    assert timeline_snap(written) == (float(exact) if standard_rate(Fraction(written))
                                      else written)


def test_ntsc_never_becomes_its_integer_twin() -> None:
    assert snap_rate(Fraction(2997, 100)) == Fraction(30000, 1001)
    assert snap_rate(Fraction(30)) == 30
    assert standard_rate(Fraction(30303, 1000)) is None  # 1 % off: not 30, kept as is


def test_otio_smpte_rates_are_standard_and_keep_otio_floats() -> None:
    """The timeline layer hands OTIO the very floats OTIO uses for its SMPTE rates."""
    nearest = otio.opentime.RationalTime.nearest_smpte_timecode_rate
    for rate in {nearest(r / 10) for r in range(200, 650)}:
        assert Fraction(rate).limit_denominator(1001) in STANDARD_RATES
        assert timeline_snap(rate) == rate
