"""The timeline layer's fast paths give exactly what the general path gives.

Reading, selecting and applying results over thousands of clips avoid OpenTimelineIO calls
that cost more than the work itself (a missing metadata key or the end of an iteration
raises a C++ exception; ``range_in_parent`` is O(n) per clip; one object at a time is slow)
and build the result as JSON text loaded in one go. Each is checked here against the plain
way (:mod:`tests.timeline.reference`, or the same code with the fast helpers swapped for
OTIO's own API) on the editors' samples and on generated timelines.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote, unquote

import opentimelineio as otio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kling_bridge.timeline import paths, prompts, quirks, results, selection, walk
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.formats import read_timeline, read_timeline_text
from kling_bridge.timeline.rates import exact_rate, rate_text, timeline_rate
from kling_bridge.timeline.results import apply_results
from kling_bridge.timeline.selection import Criteria, Selection, select
from kling_bridge.timeline.writing import timeline_to_string, write_timeline
from tests.timeline import reference
from tests.timeline.builders import RATES, build
from tests.timeline.generated import timelines
from tests.timeline.helpers import results_for
from tests.timeline.test_samples_golden import SAMPLES, _media_start, _relinked

JSON = otio.adapters.otio_json.write_to_string
CRITERIA = [
    Criteria(all_clips=True, handles=12),
    Criteria(),
    Criteria(colours=("orange",), handles=6),
    Criteria(tracks=("FX", "V2")),
    Criteria(markers=("restyle", "red")),
    Criteria(time_range=(10, 200), generations=False),
    Criteria(marked=True, handles=3, multishot=False),
]
EXAMPLES = int(os.environ.get("KB_FAST_PATH_EXAMPLES", "60"))


# --------------------------------------------------------------------------- helpers


def _plain_meta(metadata: Any, key: str) -> Any:
    return metadata.get(key) if metadata is not None else None


def _plain_media_rate(rate: float) -> tuple[Fraction, str]:
    return exact_rate(rate), rate_text(exact_rate(rate))


@contextlib.contextmanager
def general_path() -> Iterator[None]:
    """The same code with every fast helper swapped for OpenTimelineIO's own API."""
    with contextlib.ExitStack() as stack:
        for module in (walk, selection, prompts, quirks, results):
            if hasattr(module, "listed"):
                stack.enter_context(mock.patch.object(module, "listed", list))
            if hasattr(module, "meta_value"):
                stack.enter_context(mock.patch.object(module, "meta_value", _plain_meta))
        stack.enter_context(mock.patch.object(selection, "_media_rate", _plain_media_rate))
        stack.enter_context(mock.patch.object(paths, "quote_path", lambda p: quote(
            p, safe="/", errors="surrogateescape")))
        stack.enter_context(mock.patch.object(paths, "unquote_path", lambda t: unquote(
            t, encoding="utf-8", errors="surrogateescape")))
        yield


def _selection(timeline: otio.schema.Timeline, criteria: Criteria,
               **kwargs: Any) -> Selection | str:
    try:
        return select(timeline, criteria, **kwargs)
    except TimelineError as exc:
        return str(exc)


def _same_selection(timeline: otio.schema.Timeline, criteria: Criteria,
                    **kwargs: Any) -> Selection | str:
    fast = _selection(timeline, criteria, **kwargs)
    with general_path():
        general = _selection(timeline, criteria, **kwargs)
    assert fast == general
    return fast


def _same_but_last_bits(got: Any, want: Any, where: str = "") -> None:
    """Equal JSON values, except that a float may differ from its twin by a few ulps."""
    if isinstance(want, float) and isinstance(got, float):
        assert abs(got - want) <= 4 * math.ulp(want), (where, got, want)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            _same_but_last_bits(got[key], want[key], f"{where}/{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for n, (a, b) in enumerate(zip(got, want, strict=True)):
            _same_but_last_bits(a, b, f"{where}/{n}")
    else:
        assert got == want, (where, got, want)


def _same_result(timeline: otio.schema.Timeline, chosen: Selection) -> otio.schema.Timeline:
    made = (results_for(chosen) + results_for(chosen, look="anime", variant=1,
                                              handle_before=True))
    before = JSON(timeline)
    fast = apply_results(timeline, made)
    assert JSON(timeline) == before  # the editor's cut is never touched
    # Equal but for the last bits of fractional frame values (a restyle at another rate than
    # the timeline's): the fast path's new tracks come through OTIO's JSON reader, which
    # rounds a double's last bit (RapidJSON without full precision); the reference builds
    # the same objects directly.
    _same_but_last_bits(json.loads(JSON(fast)),
                        json.loads(JSON(reference.apply_results(timeline, made))))
    with general_path():
        assert JSON(apply_results(timeline, made)) == JSON(fast)
    return fast


def _issues(found: list[Any]) -> list[tuple[str, str, str]]:
    return [(i.item, i.reason, i.track) for i in found]


# --------------------------------------------------------------------------- helpers alone


@given(st.text())
def test_quote_path_is_urllib_quote(path: str) -> None:
    assert paths.quote_path(path) == quote(path, safe="/", errors="surrogateescape")


@given(st.text(alphabet=st.sampled_from(list("%2F%41%c3%a9%zz%e2%82%ac%g/ a#?é€")),
               max_size=30) | st.text())
def test_unquote_path_is_urllib_unquote(text: str) -> None:
    assert paths.unquote_path(text) == unquote(text, encoding="utf-8",
                                               errors="surrogateescape")


def test_listed_and_meta_value_match_otio_containers() -> None:
    built = build("25")
    for track in built.timeline.tracks:
        assert walk.listed(track) == list(track)
        for item in track:
            assert walk.listed(item.markers) == list(item.markers)
            if hasattr(item, "effects"):
                assert walk.listed(item.effects) == list(item.effects)
            for key in ("kling_bridge", "missing", "Resolve_OTIO"):
                assert walk.meta_value(item.metadata, key) == item.metadata.get(key)
    assert walk.listed(built.timeline.tracks) == list(built.timeline.tracks)
    assert walk.listed(otio.schema.Track()) == []
    assert walk.meta_value(None, "x") is None
    assert walk.meta_value({}, "x") is None


# --------------------------------------------------------------------------- hand-built


@pytest.mark.parametrize("label", list(RATES))
@pytest.mark.parametrize("criteria", CRITERIA, ids=range(len(CRITERIA)))
def test_hand_built_cuts(label: str, criteria: Criteria) -> None:
    built = build(label)
    chosen = _same_selection(built.timeline, criteria)
    rate = exact_rate(built.rate)
    assert [row for row in walk_rows(built.timeline, rate)] == reference.items(
        built.timeline, rate)
    if isinstance(chosen, Selection):
        _same_result(built.timeline, chosen)


def walk_rows(timeline: otio.schema.Timeline, rate: Fraction) -> list[tuple[Any, ...]]:
    return [(kind, number, index, track.name, item.name, start, length)
            for kind, number, index, track, item, start, length in walk.items(timeline, rate)]


# --------------------------------------------------------------------------- the samples


@pytest.mark.parametrize("name", SAMPLES)
def test_editors_samples(name: str, samples: Path, tmp_path: Path) -> None:
    read = read_timeline(samples / name)
    assert _issues(read.issues) == _issues(reference.media_issues(read.timeline))
    timeline = _relinked(read.timeline, tmp_path / "media")
    for criteria in (CRITERIA[0], CRITERIA[2], CRITERIA[4]):
        chosen = _same_selection(timeline, criteria, media_start=_media_start)
        if isinstance(chosen, Selection):
            _same_result(timeline, chosen)


# --------------------------------------------------------------------------- generated


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(timelines(), st.sampled_from(CRITERIA))
def test_generated_timelines(timeline: otio.schema.Timeline, criteria: Criteria) -> None:
    rate = timeline_rate(timeline)
    assert walk_rows(timeline, rate) == reference.items(timeline, rate)
    text = JSON(timeline)
    read = read_timeline_text(text)  # the reader's own walk for missing media
    assert _issues(read.issues) == _issues(reference.media_issues(read.timeline))
    chosen = _same_selection(read.timeline, criteria)
    if isinstance(chosen, Selection):
        output = _same_result(read.timeline, chosen)
        again = read_timeline_text(timeline_to_string(output, "otio_json")).timeline
        assert JSON(again) == JSON(output)  # OTIO reads back exactly what was written


def test_written_file_is_the_otio_json_text(tmp_path: Path) -> None:
    built = build("23.976")
    output = apply_results(built.timeline, results_for(select(
        built.timeline, Criteria(all_clips=True, handles=6))))
    path = write_timeline(output, tmp_path / "out.otio")
    assert path.read_text(encoding="utf-8") == JSON(output)
    assert JSON(otio.adapters.otio_json.read_from_file(str(path))) == JSON(copy.deepcopy(output))
