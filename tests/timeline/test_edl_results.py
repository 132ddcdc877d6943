"""Result EDLs: one per new picture track, records at the cut's timecode, sources at the
rendered files' own timecodes; read back over their sources at every rate."""

from __future__ import annotations

from dataclasses import replace

import opentimelineio as otio
import pytest

from kling_bridge.timeline.edl import result_edls
from kling_bridge.timeline.formats import read_timeline_text
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.results import new_clips
from kling_bridge.timeline.selection import Criteria, select
from tests.timeline.builders import ALL_RATES, build
from tests.timeline.helpers import record_range, results_for


@pytest.mark.parametrize("zero", [True, False])
@pytest.mark.parametrize("label", list(ALL_RATES))
def test_one_edl_per_new_track(label: str, zero: bool) -> None:
    built = build(label, from_zero=zero)
    rate = exact_rate(built.rate)
    _rate, drop = ALL_RATES[label]
    selection = select(built.timeline, Criteria(all_clips=True))
    results = [replace(r, timecode=str(otio.opentime.to_timecode(
        otio.opentime.RationalTime(built.media_start + 100 * n, built.rate), built.rate, drop)))
        for n, r in enumerate(results_for(selection))]
    edls = result_edls(results, title="cut", start=built.start, drop_frame=drop)
    assert [name for name, _ in edls] == ["film-noir", "film-noir (2)", "Kling B-roll"]
    for name, text in edls:
        lines = text.splitlines()
        assert lines[:2] == [f"TITLE: cut - {name}",
                             "FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME"]
        again = read_timeline_text(text, "cmx_3600", rate=float(rate), check_media=False)
        first = again.timeline.global_start_time
        start = round(first.value) if first is not None else 0
        for clip in new_clips(again.timeline):
            result = next(r for r in results
                          if r.job_id == clip.metadata["kling_bridge"]["job_id"])
            rec = record_range(clip, rate)
            assert rec[0] + start == built.start + result.clip.record_start
            if result.kind == "restyle":
                assert rec[1] == result.clip.record_duration
                # the source timecode is the rendered file's own first timecode
                tc = otio.opentime.from_timecode(result.timecode, built.rate)
                assert clip.source_range.start_time.value == tc.value
            assert clip.media_reference.target_url == result.path
            assert clip.metadata["kling_bridge"]["note"].startswith("Kling ")
