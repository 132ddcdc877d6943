"""The timeline layer's fast paths give exactly what the plain way gives.

What stays, because ``bench/timeline.py`` measured the plain way too slow on 5,000 clips:

- ``walk.metadata_get`` / ``walk.bridge_meta`` instead of ``metadata.get`` (a missing key
  raises through C++: the selection took twice as long);
- new tracks built as OTIO JSON data and loaded in one go (``results``), instead of one
  schema constructor call at a time (five times as long);
- ``paths.quote_path`` / ``paths.unquote_path`` instead of ``urllib``'s, for every new
  clip's URL and every source's path.

Each is checked here against the plain way (:mod:`tests.timeline.reference`, or the same code
with the fast helpers swapped for OTIO's own API) on the editors' samples and on generated
timelines; the OTIO schema versions the JSON is written in are pinned, so an OpenTimelineIO
upgrade that changes one fails here first.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import math
import os
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote, unquote

import opentimelineio as otio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kling_bridge.timeline import paths, quirks, results, selection, walk
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.fcpxml import read as fcpxml_read
from kling_bridge.timeline.fcpxml import text as fcpxml_text
from kling_bridge.timeline.formats import read_timeline, read_timeline_text
from kling_bridge.timeline.gc_pause import no_gc
from kling_bridge.timeline.rates import exact_rate, timeline_rate
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


def _plain_bridge_meta(item: Any) -> dict[str, Any]:
    meta = item.metadata.get(walk.KEY) if hasattr(item, "metadata") else None
    return dict(meta) if isinstance(meta, Mapping) else {}


@contextlib.contextmanager
def general_path() -> Iterator[None]:
    """The same code with every fast helper swapped for OpenTimelineIO's own API."""
    with contextlib.ExitStack() as stack:
        for module in (walk, selection, quirks, results):
            if hasattr(module, "metadata_get"):
                stack.enter_context(mock.patch.object(module, "metadata_get", _plain_meta))
            if hasattr(module, "bridge_meta"):
                stack.enter_context(mock.patch.object(module, "bridge_meta", _plain_bridge_meta))
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


@given(st.lists(st.tuples(st.sampled_from(["name", "src"]),
                          st.text(alphabet=st.sampled_from(list('ab &<>"\n\r\t·é')),
                                  max_size=6)), max_size=6))
def test_escape_values_is_escape_of_each(pairs: list[tuple[str, str]]) -> None:
    assert fcpxml_text.escape_values(pairs) == [(k, fcpxml_text.escape(v)) for k, v in pairs]


def test_no_gc_pauses_the_collector_and_restores_it() -> None:
    assert gc.isenabled()
    with no_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), no_gc():
        raise ValueError("inside")
    assert gc.isenabled()
    gc.disable()
    try:
        with no_gc():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_select_pauses_the_collector_as_a_decorated_no_gc() -> None:
    """``select`` runs under :func:`no_gc` (a decorator: made anew for each call) and
    leaves the collector as it found it, when it raises too."""
    seen: list[bool] = []
    real = walk.placed_items

    def watching(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args)

    timeline = build("23.976").timeline
    with mock.patch.object(selection, "placed_items", watching):
        select(timeline, Criteria(all_clips=True))
        with pytest.raises(TimelineError):
            select(timeline, Criteria(tracks=("no such track",), generations=False))
    assert seen == [False, False] and gc.isenabled()


KEYS = st.sampled_from(["kling_bridge", "fcp_xml", "Resolve_OTIO", "", "k", "é"])
SMALL = st.integers(-2**63, 2**63 - 1)  # what OTIO's metadata holds (int64)
VALUES = st.none() | st.booleans() | SMALL | st.text(max_size=4) | st.dictionaries(
    KEYS, SMALL, max_size=3)


@given(st.dictionaries(KEYS, VALUES, max_size=5), KEYS)
def test_metadata_get_is_get(data: dict[str, Any], key: str) -> None:
    """On OTIO's own metadata dictionaries (through a clip) and on plain dicts."""
    clip = otio.schema.Clip(metadata=data)
    assert _same_value(walk.metadata_get(clip.metadata, key), clip.metadata.get(key))
    assert walk.metadata_get(data, key) == data.get(key)
    assert walk.bridge_meta(clip) == _plain_bridge_meta(clip)


def _same_value(got: Any, want: Any) -> bool:
    if isinstance(got, Mapping) and isinstance(want, Mapping):
        return dict(got) == dict(want)
    return bool(got == want)


def test_metadata_get_edges() -> None:
    assert walk.metadata_get(None, "x") is None
    assert walk.metadata_get({}, "x") is None
    assert walk.bridge_meta(otio.schema.Clip(metadata={"kling_bridge": "not a mapping"})) == {}
    assert walk.bridge_meta(object()) == {}


def _schemas(document: Any) -> set[str]:
    """Every ``OTIO_SCHEMA`` in parsed OTIO JSON."""
    if isinstance(document, dict):
        found = {document["OTIO_SCHEMA"]} if "OTIO_SCHEMA" in document else set()
        return found.union(*(_schemas(v) for v in document.values()))
    if isinstance(document, list | tuple):
        return set().union(*(_schemas(v) for v in document))
    return set()


def test_json_schema_versions_are_otios_own(samples: Path) -> None:
    """The OTIO JSON the bridge writes (new tracks) and has OTIO read in one go (the FCPXML
    reader's timeline) is in the schema versions this OpenTimelineIO writes: an upgrade that
    changes one fails here, before a stale document reaches an editor."""
    current = {f"{name}.{version}" for name, version in otio.core.type_version_map().items()}
    current |= {"TimeRange.1", "RationalTime.1"}
    built = build("23.976")
    made = results_for(select(built.timeline, Criteria(all_clips=True, handles=6)))
    written = _schemas(json.loads(json.dumps(results.track_documents(made))))
    assert written >= {"Track.1", "Clip.2", "ExternalReference.1"} and written <= current
    assert set(results.SCHEMAS.values()) <= current
    loaded: list[str] = []
    reader = otio.adapters.otio_json.read_from_string

    def reading(text: str) -> Any:
        loaded.append(text)
        return reader(text)

    with mock.patch.object(otio.adapters.otio_json, "read_from_string", reading):
        for name in ("fcp111_2997df_compound_retime.fcpxml", "fcp111_60_transitions_conform"
                     ".fcpxml", "fcp113_2398_audition.fcpxml"):
            fcpxml_read.read_fcpxml((samples / name).read_text(encoding="utf-8"))
    read = set().union(*(_schemas(json.loads(text)) for text in loaded))
    assert read >= {"Timeline.1", "Stack.1", "Track.1", "Clip.2", "Gap.1", "Marker.2",
                    "Transition.1", "LinearTimeWarp.1", "ExternalReference.1"}
    assert read <= current


# --------------------------------------------------------------------------- hand-built


@pytest.mark.parametrize("label", list(RATES))
@pytest.mark.parametrize("criteria", CRITERIA, ids=range(len(CRITERIA)))
def test_hand_built_cuts(label: str, criteria: Criteria) -> None:
    built = build(label)
    chosen = _same_selection(built.timeline, criteria)
    rate = exact_rate(built.rate)
    assert walk_rows(built.timeline, rate) == reference.items(built.timeline, rate)
    if isinstance(chosen, Selection):
        _same_result(built.timeline, chosen)


def walk_rows(timeline: otio.schema.Timeline, rate: Fraction) -> list[tuple[Any, ...]]:
    return [(kind, number, index, track.name, item.name, start, length)
            for kind, number, index, track, item, start, length
            in walk.placed_items(timeline, rate)]


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


@given(st.sampled_from([23.976, 24000 / 1001, 24.0, 25.0, 29.97, 30.0, 59.94, 60.0]),
       st.sampled_from([24000 / 1001, 25.0, 30000 / 1001, 48.0]),
       st.floats(-1e6, 1e6, allow_nan=False), st.floats(0, 1e5, allow_nan=False))
def test_frame_counter_span_is_two_counts(rate: float, time_rate: float, start: float,
                                          length: float) -> None:
    """``FrameCounter.span`` (one call for a range) counts as its two calls do, at the
    counter's own rate (a rounding) and at any other (an exact conversion)."""
    from kling_bridge.timeline.rates import frame_counter

    count = frame_counter(rate)
    span = otio.opentime.TimeRange(otio.opentime.RationalTime(start, time_rate),
                                   otio.opentime.RationalTime(length, time_rate))
    assert count.span(span) == (count(span.start_time), count(span.duration))


def test_media_exists_check_is_os_path_exists(tmp_path: Path) -> None:
    """The reader's missing-media check answers what ``os.path.exists`` answers: files,
    folders, links (working and broken), missing files and folders, odd names."""
    from kling_bridge.timeline.formats import _exists

    (tmp_path / "take 1.mov").write_bytes(b"")
    (tmp_path / "link.mov").symlink_to(tmp_path / "take 1.mov")
    (tmp_path / "broken.mov").symlink_to(tmp_path / "gone.mov")
    paths_ = [str(tmp_path / n) for n in ("take 1.mov", "link.mov", "broken.mov", "gone.mov",
                                          "take 1.mov/x", "")]
    paths_ += [str(tmp_path), "", "a\0b", "\udcff.mov", "relative/none.mov"]
    assert [_exists(p) for p in paths_] == [os.path.exists(p) for p in paths_]
    assert [_exists(p) for p in paths_[:4]] == [True, True, False, False]


def test_media_check_by_folder_is_a_check_by_file(tmp_path: Path) -> None:
    """A missing folder answers for its files (one look per folder): the reader reports
    exactly the clips ``os.path.exists`` says are missing -- files in a missing folder,
    a missing file in a folder that is there, ``..`` through a missing folder, links --
    and asks once per missing folder, not per file."""
    (tmp_path / "day1").mkdir()
    (tmp_path / "day1" / "A001.mov").write_bytes(b"")
    (tmp_path / "link").symlink_to(tmp_path / "day1")
    names = ["day1/A001.mov", "day1/A002.mov", "day2/A001.mov", "day2/A003.mov",
             "day2/../day1/A001.mov", "link/A001.mov", "day1/A001.mov/x", "A001.mov"]
    track = otio.schema.Track(name="V1")
    for n, name in enumerate(names):
        track.append(otio.schema.Clip(
            name=f"c{n}", media_reference=otio.schema.ExternalReference(
                target_url=str(tmp_path / name)),
            source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(5, 24))))
    timeline = otio.schema.Timeline(tracks=[track])
    asked: list[str] = []

    def exists(path: str) -> bool:
        asked.append(path)
        return os.path.exists(path)

    missing = {i.item for i in quirks.media_issues(timeline, exists)}
    assert missing == {f"c{n}" for n, name in enumerate(names)
                       if not os.path.exists(tmp_path / name)}
    assert missing == {"c1", "c2", "c3", "c4", "c6", "c7"}
    assert asked.count(str(tmp_path / "day2")) == 1
    assert str(tmp_path / "day2" / "A003.mov") not in asked
