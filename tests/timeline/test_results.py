"""Results -> timeline edits: originals untouched, every new clip exactly over its source."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from kling_bridge.specs import ClipRef
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.formats import read_timeline
from kling_bridge.timeline.rates import exact_rate
from kling_bridge.timeline.results import ResultClip, apply_results, new_clips
from kling_bridge.timeline.selection import Criteria, select
from tests.timeline.builders import RATES, build
from tests.timeline.helpers import record_range, results_for, track_json


@pytest.mark.parametrize("label", list(RATES))
def test_restyles_land_exactly_over_their_sources(label: str) -> None:
    built = build(label)
    rate = exact_rate(built.rate)
    selection = select(built.timeline, Criteria(all_clips=True, handles=6))
    results = results_for(selection, handle_before=True)
    before = otio.adapters.otio_json.write_to_string(built.timeline)
    output = apply_results(built.timeline, results)
    assert otio.adapters.otio_json.write_to_string(built.timeline) == before  # input untouched

    # every original track (and item) is as it was
    originals = len(built.timeline.tracks)
    for old, new in zip(built.timeline.tracks, list(output.tracks)[:originals], strict=True):
        assert track_json(new) == track_json(old)
    assert output.global_start_time == built.timeline.global_start_time

    looks = [t for t in output.tracks if t.name.startswith("film-noir")]
    assert [t.name for t in looks] == ["film-noir", "film-noir (2)"]  # A002 and B001 overlap
    assert all(t.kind == otio.schema.TrackKind.Video for t in looks)
    assert looks[0].metadata["kling_bridge"]["role"] == "restyle"
    placed = {c.metadata["kling_bridge"]["source_clip_id"]: c for t in looks for c in t
              if isinstance(c, otio.schema.Clip)}
    assert len(placed) == 3
    for ref, src in selection.restyles:
        original = _original(output, ref)
        new = placed[ref.clip_id]
        assert record_range(new, rate) == record_range(original, rate)
        assert record_range(new, rate) == (ref.record_start, ref.record_duration)
        # the new clip shows the output's frames after the handle
        assert new.source_range.start_time.rescaled_to(float(exact_rate(src.rate))).value == (
            pytest.approx(src.handle_before))
        meta = new.metadata["kling_bridge"]
        assert meta["job_id"].startswith("job-film-noir") and meta["draft"] is True
        assert {"provider", "model", "prompt", "preset", "task_id", "cost"} <= set(meta)


def _original(timeline: otio.schema.Timeline, ref: ClipRef) -> otio.schema.Clip:
    track = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video][ref.track_index]
    return next(c for c in track if c.name == ref.name)


def test_the_source_timecode_is_the_rendered_files_own() -> None:
    """A restyle keeps its source's timecode: the new clip shows the file from that
    timecode (plus any handle), and the file's range starts there."""
    built = build("23.976")
    selection = select(built.timeline, Criteria(all_clips=True, handles=6))
    ref, src = selection.restyles[0]
    result = ResultClip(job_id="j1", kind="restyle", path="/out/a.mov", clip=ref,
                        look="film-noir", frames=src.frame_count + 6, rate=src.rate,
                        handle_before=6, timecode="01:00:10:00", provider="kling")
    output = apply_results(built.timeline, [result])
    (new,) = new_clips(output)
    hour_ten = 86400 + 240  # 01:00:10:00 at 23.976 (timecode counts 24 a second)
    assert new.media_reference.available_range.start_time.value == hour_ten
    assert new.source_range.start_time.value == hour_ten + 6
    assert new.metadata["kling_bridge"]["note"] == "Kling O3 · film-noir · job j1"


def test_originals_keep_their_one_media_reference() -> None:
    """The editor's clips come back exactly as they were: restyled media is on the new
    tracks only, never an extra reference on the editor's clip."""
    built = build("23.976")
    selection = select(built.timeline, Criteria(all_clips=True, handles=6))
    output = apply_results(built.timeline, results_for(selection, handle_before=True))
    a001 = next(c for c in output.tracks[0] if c.name == "A001")
    assert set(a001.media_references()) == {"DEFAULT_MEDIA"}


def test_overlapping_sources_get_a_second_lane_and_variants_their_own_track() -> None:
    built = build("25")
    selection = select(built.timeline, Criteria(all_clips=True, generations=False))
    # A002 (V1, 2-5 s) and B001 (FX, 3-5 s) overlap in time
    results = results_for(selection) + results_for(selection, variant=1)
    output = apply_results(built.timeline, results)
    names = [t.name for t in output.tracks][3:]
    assert names == ["film-noir", "film-noir (2)", "film-noir v2", "film-noir v2 (2)"]
    second = output.tracks[4]
    assert [c.name for c in second if isinstance(c, otio.schema.Clip)] == ["B001 [film-noir]"]
    looks = [t.metadata["kling_bridge"]["variant"] for t in output.tracks[3:]]
    assert looks == [0, 0, 1, 1]


def test_broll_on_its_own_track_with_audio() -> None:
    built = build("29.97DF")
    rate = exact_rate(built.rate)
    selection = select(built.timeline, Criteria(tracks=("FX",)))
    output = apply_results(built.timeline, results_for(selection))
    broll = next(t for t in output.tracks if t.name == "Kling B-roll")
    audio = next(t for t in output.tracks if t.name == "Kling B-roll audio")
    assert audio.kind == otio.schema.TrackKind.Audio
    clips = [c for c in broll if isinstance(c, otio.schema.Clip)]
    assert len(clips) == 3
    for clip, spec in zip(clips, selection.generations, strict=True):
        start, length = record_range(clip, rate)
        assert spec.placement is not None
        assert start == spec.placement.record_start
        made = round(Fraction(spec.duration * 24, 24) * rate)
        assert length == min(spec.placement.record_duration, made)
        assert clip.metadata["kling_bridge"]["kind"] == "generate"
    sound = [c for c in audio if isinstance(c, otio.schema.Clip)]
    assert [c.metadata["kling_bridge"]["job_id"] for c in sound] == ["gen-0"]
    assert record_range(sound[0], rate) == record_range(clips[0], rate)


def test_resolve_shaped_results_keep_bare_paths(samples: Path) -> None:
    timeline = read_timeline(samples / "blender53_resolve_metadata.otio").timeline
    selection = select(timeline, Criteria(all_clips=True))
    output = apply_results(timeline, results_for(selection, out_dir="/Volumes/Out"))
    added = new_clips(output)
    assert added and all(c.media_reference.target_url.startswith("/Volumes/Out/") for c in added)
    assert "#" in added[0].media_reference.target_url


def test_result_without_a_length_is_refused() -> None:
    bad = ResultClip(job_id="j1", kind="restyle", path="/o.mov",
                     clip=ClipRef(clip_id="x", name="shot"))
    with pytest.raises(TimelineError, match="no length"):
        apply_results(build("24").timeline, [bad])


def test_unknown_source_clip_still_placed() -> None:
    built = build("24")
    ref = ClipRef(clip_id="gone", name="ghost", record_start=5, record_duration=10,
                  timeline_rate="24")
    output = apply_results(built.timeline, [ResultClip(
        job_id="j1", kind="restyle", path="/o.mov", clip=ref, look="anime")])
    anime = next(t for t in output.tracks if t.name == "anime")
    assert record_range(anime[1], Fraction(24)) == (5, 10)


@pytest.mark.parametrize("label", ["29.97DF", "23.976"])
def test_apply_results_leaves_its_input_alone(label: str) -> None:
    """The editor's timeline object is never changed -- not its tracks, their parent, its
    metadata -- whatever is added (restyles, variants, B-roll with sound); the output shares
    no object with it, so changing the output cannot change the input either."""
    built = build(label)
    timeline = built.timeline
    selection = select(timeline, Criteria(all_clips=True, handles=6))
    results = (results_for(selection, handle_before=True)
               + results_for(selection, variant=1))
    assert selection.generations  # B-roll is among what is added
    before = otio.adapters.otio_json.write_to_string(timeline)
    tracks = list(timeline.tracks)
    output = apply_results(timeline, results)
    assert otio.adapters.otio_json.write_to_string(timeline) == before
    assert list(timeline.tracks) == tracks and len(timeline.tracks) == len(tracks)
    assert all(track.parent() is timeline.tracks for track in tracks)
    assert len(output.tracks) > len(tracks)
    output.tracks[0][0].name = "changed in the output"
    output.metadata["changed"] = True
    del output.tracks[0][:]
    assert otio.adapters.otio_json.write_to_string(timeline) == before
