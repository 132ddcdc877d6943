"""Cost of a Kling task before it is sent, and what Kling says it charged after.

Prices live in ``kling_bridge/data/kling_pricing.json`` (units per second of output by model,
variant and resolution) so a price change is a data edit. Everything here is pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..base import USD_PER_UNIT, AudioMode, Cost, Operation, TaskRequest
from .errors import bad_request


@dataclass(frozen=True)
class PriceTable:
    per_second: Mapping[str, Mapping[str, Mapping[str, float]]]
    lipsync_units_per_block: float
    lipsync_block_seconds: float
    lipsync_units_per_face_detection: float

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> PriceTable:
        lip = data["lipsync"]
        return PriceTable(
            per_second=data["per_second"],
            lipsync_units_per_block=float(lip["units_per_block"]),
            lipsync_block_seconds=float(lip["block_seconds"]),
            lipsync_units_per_face_detection=float(lip["units_per_face_detection"]),
        )

    def rate(self, model: str, variant: str, resolution: str) -> float | None:
        return self.per_second.get(model, {}).get(variant, {}).get(resolution)

    def resolutions(self, model: str) -> frozenset[str]:
        variants = self.per_second.get(model, {})
        return frozenset(r for v in variants.values() for r in v)


def load_table() -> PriceTable:
    text = resources.files("kling_bridge").joinpath("data/kling_pricing.json").read_text("utf-8")
    return PriceTable.from_json(json.loads(text))


def variant_for(request: TaskRequest) -> str:
    """Which row of the table applies: O3 is priced by whether a video goes in, 3.0 by audio."""
    if "omni" in request.model:
        return "with_video" if request.has_video_input else "without_video"
    return "native_audio" if request.audio_mode is AudioMode.NATIVE else "silent"


def estimate(request: TaskRequest, table: PriceTable) -> Cost:
    """Units Kling will deduct for ``request`` (its billable seconds times the rate)."""
    if request.operation is Operation.LIPSYNC:
        seconds = request.output_seconds
        blocks = math.ceil(round(seconds / table.lipsync_block_seconds, 6)) if seconds > 0 else 1
        units = blocks * table.lipsync_units_per_block + table.lipsync_units_per_face_detection
        return Cost(round(units, 4))
    rate = table.rate(request.model, variant_for(request), request.resolution.value)
    if rate is None:
        offered = ", ".join(sorted(table.resolutions(request.model))) or "none"
        raise bad_request(
            f"No Kling price for {request.model} at {request.resolution.value}",
            hint=f"resolutions offered for this model: {offered}; or add the price to "
            "kling_pricing.json",
        )
    return Cost(round(rate * request.output_seconds, 4))


def billed_from_standard(billing: Sequence[Mapping[str, Any]] | None) -> Cost | None:
    """Sum of a new-standard task's ``billing[]`` (amounts are strings; cash is in dollars)."""
    if not billing:
        return None
    units = 0.0
    for item in billing:
        try:
            amount = float(item.get("amount", 0) or 0)
        except (TypeError, ValueError):
            continue
        units += amount / USD_PER_UNIT if item.get("charge_type") == "cash" else amount
    return Cost(round(units, 4))


def billed_from_legacy(final_unit_deduction: Any) -> Cost | None:
    if final_unit_deduction in (None, ""):
        return None
    try:
        return Cost(round(float(final_unit_deduction), 4))
    except (TypeError, ValueError):
        return None
