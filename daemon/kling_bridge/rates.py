"""The one rule for "which frame rate is this, really": a rate measured from a file or
written as a float by an adapter (``23.976``, ``23.98``, ``29.97002997``) stands for the
standard rate within 0.05 % of it, kept as an exact :class:`~fractions.Fraction`.

Used by the media layer (ffprobe's measured rates), the timeline layer (adapters' floats,
through :mod:`kling_bridge.timeline.rates`) and request specs (:func:`kling_bridge.specs.
parse_rate`), so a clip, its timeline and its job agree on the rate to the frame. The
tolerance is below the 0.1 % between an NTSC rate and its integer twin, so 29.97 never
becomes 30; a rate near no standard one (15.5, 7.3) stays what it is. Pure; no OTIO here
(it sits below both media and timeline). OTIO's own SMPTE rates are a subset of
:data:`STANDARD_RATES`, and their floats are ``float()`` of these fractions.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

#: Rates editors use; a measured rate within 0.05 % of one of these *is* that rate.
STANDARD_RATES: tuple[Fraction, ...] = (
    Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
    Fraction(48000, 1001), Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
    Fraction(100), Fraction(120000, 1001), Fraction(120), Fraction(15), Fraction(12),
    Fraction(15000, 1001), Fraction(8), Fraction(10), Fraction(16), Fraction(18),
)

_TOLERANCE = Fraction(5, 10000)  # relative: 23.976 vs 24000/1001 is 1e-6, 23.98 is 1.7e-4


@lru_cache(maxsize=512)
def standard_rate(rate: Fraction) -> Fraction | None:
    """The standard rate ``rate`` stands for, or None when it is near none of them."""
    if rate <= 0:
        return None
    best = min(STANDARD_RATES, key=lambda std: abs(rate - std))
    return best if abs(rate - best) <= best * _TOLERANCE else None


def snap_rate(rate: Fraction) -> Fraction:
    """The standard rate ``rate`` stands for, or ``rate`` itself (as a fraction over at
    most 1001, which is what an exact rate near no standard one can be written as)."""
    return standard_rate(rate) or rate.limit_denominator(1001)
