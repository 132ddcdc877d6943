"""The plugin's pure rules: rates and timecode, which clips, where they are in the export,
where results go and how a placement is judged, settings and the batch ledger."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from kling_bridge_resolve import frames, marking, placement, selection
from kling_bridge_resolve.ledger import Ledger
from kling_bridge_resolve.model import Item, Marker, TimelineFacts
from kling_bridge_resolve.settings import (
    DEFAULTS,
    POLL_ENV,
    SettingsError,
    load,
    poll_seconds,
    save,
    validate,
)

from conftest import ROOT
from kling_bridge.timeline import Criteria, read_timeline_text, select

SAMPLE = ROOT / "tests" / "samples" / "blender53_resolve_metadata.otio"


# ------------------------------------------------------------------ rates and timecode


@pytest.mark.parametrize(("text", "rate"), [
    ("23.976", Fraction(24000, 1001)), ("23.98", Fraction(24000, 1001)), ("24", Fraction(24)),
    ("25", Fraction(25)), ("29.97", Fraction(30000, 1001)), ("29.97 DF", Fraction(30000, 1001)),
    (59.94, Fraction(60000, 1001)), ("30000/1001", Fraction(30000, 1001)), (50.0, Fraction(50))])
def test_rounded_rates_become_exact(text: object, rate: Fraction) -> None:
    assert frames.exact_rate(text) == rate


def test_a_whole_number_setting_is_refined_by_the_export() -> None:
    assert frames.refine_rate(Fraction(24), 23.976023976023978) == Fraction(24000, 1001)
    assert frames.refine_rate(Fraction(25), 25.0) == Fraction(25)
    assert frames.refine_rate(Fraction(24), None) == Fraction(24)


@pytest.mark.parametrize(("timecode", "rate", "frame"), [
    ("01:00:00:00", 24, 86400), ("01:00:00:00", Fraction(30000, 1001), 108000),
    ("01:00:00;00", Fraction(30000, 1001), 107892), ("00:01:00;02", Fraction(30000, 1001), 1800),
    ("00:10:00;00", Fraction(30000, 1001), 17982), ("10:00:00:00", 25, 900000)])
def test_timecode_both_ways(timecode: str, rate: object, frame: int) -> None:
    assert frames.timecode_to_frames(timecode, rate) == frame
    assert frames.frames_to_timecode(frame, rate, ";" in timecode) == timecode


def test_not_a_rate_or_timecode_is_refused() -> None:
    with pytest.raises(ValueError, match="frame rate"):
        frames.exact_rate("fast")
    with pytest.raises(ValueError, match="timecode"):
        frames.timecode_to_frames("1:00", 24)


# ------------------------------------------------------------------ selection


def facts(items: list[Item], **kw: object) -> TimelineFacts:
    base = {"name": "Cut", "uid": "t1", "rate": Fraction(24), "start": 86400,
            "video_tracks": 3, "items": items, "end": 87000}
    base.update(kw)
    return TimelineFacts(**base)


def clip(uid: str, track: int, start: int, end: int, colour: str = "", path: str = "/m.mov",
         enabled: bool = True) -> Item:
    return Item(uid, uid, track, start, end, path=path, colour=colour, enabled=enabled)


CUT = [clip("a", 1, 86400, 86448, "Orange"), clip("b", 1, 86448, 86500),
       clip("c", 2, 86420, 86460), clip("title", 3, 86400, 86500, path="")]


def test_resolve_selection_wins_and_says_so() -> None:
    choice = selection.choose(facts(CUT), "Orange", selected=["b", "c"])
    assert choice.rule == "selection" and [i.uid for i in choice.items] == ["c", "b"]
    assert choice.summary() == "Selection rule: selected in the timeline -- 2 clips"


def test_empty_selection_falls_through_to_the_colour_with_a_note() -> None:
    choice = selection.choose(facts(CUT), "orange", selected=[])
    assert choice.rule == "colour" and [i.uid for i in choice.items] == ["a"]
    assert choice.tried == ["nothing selected in the timeline"]


def test_in_out_marks_take_every_video_clip_touching_the_range() -> None:
    choice = selection.choose(facts(CUT, marks={"in": 86430, "out": 86447}), "Teal")
    assert choice.rule == "in/out"
    assert [i.uid for i in choice.items] == ["a", "c"]
    assert choice.tried == ["no clip has the clip colour Teal"]
    assert "01:00:01:06-01:00:01:23" in choice.summary()
    # an out mark is inclusive: the frame at 'out' belongs to the range
    only_b = selection.choose(facts(CUT, marks={"in": 86460, "out": 86470}), "")
    assert [i.uid for i in only_b.items] == ["b"]


def test_marks_answered_relative_to_the_start_are_made_absolute() -> None:
    choice = selection.choose(facts(CUT, marks={"in": 0, "out": 10}), "")
    assert [i.uid for i in choice.items] == ["a"]


def test_playhead_takes_the_topmost_clip_under_any_title() -> None:
    choice = selection.choose(facts(CUT, playhead=86430), "", current_uid="title")
    assert choice.rule == "playhead" and [i.uid for i in choice.items] == ["c"]
    assert "01:00:01:06" in choice.summary()
    only_title = [clip("title", 3, 86400, 86500, path="")]
    with pytest.raises(selection.SelectionError, match=r"cannot restyle.*'title' on V3"):
        selection.choose(facts(only_title, playhead=86470), "", current_uid="title")


def test_nothing_found_names_every_rule_tried_and_what_to_do() -> None:
    with pytest.raises(selection.SelectionError) as caught:
        selection.choose(facts(CUT, playhead=86900), "Olive", selected=[])
    text = str(caught.value)
    assert "nothing selected" in text and "clip colour Olive" in text
    assert "no clip under the playhead" in text and "set In/Out marks" in text


def test_a_colour_resolve_does_not_have_is_refused() -> None:
    with pytest.raises(selection.SelectionError, match="Chocolate"):
        selection.choose(facts(CUT), "Red")


# ------------------------------------------------------------------ marking


def test_items_are_marked_by_track_and_record_frame_in_resolves_export() -> None:
    doc = json.loads(SAMPLE.read_text())
    before = json.dumps(doc)
    rate = frames.exact_rate(marking.timeline_rate(doc) or 24)
    wanted = [Item("uid-src", "Source", 1, 13, 91), Item("uid-broll", "AI_BRoll", 2, 23, 71),
              Item("uid-nowhere", "moved", 1, 14, 92)]
    marked, missing = marking.mark(doc, wanted, rate)
    assert json.dumps(doc) == before  # the editor's export is never changed
    assert marking.marked_ids(marked) == ["uid-src", "uid-broll"]
    assert [(i.uid, "V1, frame 14" in why) for i, why in missing] == [("uid-nowhere", True)]
    chosen = select(read_timeline_text(json.dumps(marked), "otio_json").timeline, Criteria())
    assert [(r.clip_id, r.track_index, r.record_start) for r, _ in chosen.restyles] == [
        ("uid-src", 0, 12), ("uid-broll", 1, 22)]


def test_same_place_different_length_is_not_a_match() -> None:
    doc = json.loads(SAMPLE.read_text())
    _marked, missing = marking.mark(doc, [Item("x", "Source", 1, 13, 90)], Fraction(24))
    assert len(missing) == 1


def test_prompt_markers_are_dropped_from_what_the_daemon_gets() -> None:
    doc = json.loads(SAMPLE.read_text())
    doc["tracks"]["markers"].append({"OTIO_SCHEMA": "Marker.2", "name": "Rain",
                                     "metadata": {"Resolve_OTIO": {"Note": "kling: rain"}},
                                     "color": "BLUE", "comment": "",
                                     "marked_range": doc["tracks"]["markers"][0]["marked_range"]})
    marked, _ = marking.mark(doc, [], Fraction(24))
    assert [m["name"] for m in marked["tracks"]["markers"]] == ["AI_BRoll job-123"]


def test_built_timeline_selects_like_the_export(media: dict[str, Path]) -> None:
    """Where Resolve cannot export (before 18.5) the plugin writes the same facts itself."""
    from helpers import cut
    from kling_bridge_resolve.host import Host

    app, timeline, handles = cut(media["24"], "24")
    host = Host.from_namespace(app.namespace())
    read = host.facts(timeline)
    chosen = host.complete([i for i in read.video_items() if i.uid == handles[1].GetUniqueId()])
    built = marking.build(read, chosen)
    exported, _ = marking.mark(host.export_otio(timeline), chosen, read.rate)
    results = []
    for doc in (built, exported):
        picked = select(read_timeline_text(json.dumps(doc), "otio_json").timeline, Criteria())
        results.append([(r.clip_id, r.record_start, r.record_duration, s.path, s.start_frame,
                         s.frame_count) for r, s in picked.restyles])
    assert results[0] == results[1] == [(handles[1].GetUniqueId(), 24, 30, str(media["24"]),
                                         10, 30)]


@pytest.mark.parametrize(("clip_rate", "timeline_rate"), [("25", "24"), ("29.97", "23.976")])
def test_other_rate_media_is_sent_as_its_exact_frames_and_later_clips_keep_their_place(
        media: dict[str, Path], clip_rate: str, timeline_rate: str) -> None:
    """Resolve's export puts a 25 fps clip's source on the 24 fps grid (an in-point can be a
    frame off, the length a frame short); the plugin rewrites the chosen clips' source in
    the media's own frames, from the export or built, and the daemon then reads those exact
    frames -- while a clip after them on the track keeps its record frame."""
    from helpers import cut
    from kling_bridge_resolve.host import Host

    app, timeline, handles = cut(media[clip_rate], timeline_rate)
    third = app.find_item(handles[1].GetUniqueId())
    third_start = third["start"] + third["duration"] + 7
    pool = app.resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    (mpi,) = [c for c in pool.GetRootFolder().GetClipList()]
    (late,) = pool.AppendToTimeline([{"mediaPoolItem": mpi, "startFrame": 13, "endFrame": 38,
                                      "mediaType": 1, "trackIndex": 1,
                                      "recordFrame": third_start}])
    host = Host.from_namespace(app.namespace())
    read = host.facts(timeline)
    chosen = host.complete(sorted(read.video_items(), key=lambda i: i.start))
    lengths = [i.duration for i in chosen]
    exported, missing = marking.mark(host.export_otio(timeline), chosen, read.rate)
    assert missing == []
    for doc in (exported, marking.build(read, chosen)):
        picked = select(read_timeline_text(json.dumps(doc), "otio_json").timeline, Criteria())
        got = [(s.start_frame, s.frame_count, r.record_start) for r, s in picked.restyles]
        media_rate = frames.exact_rate(clip_rate)
        assert got[0][:2] == (4, frames.media_count(lengths[0], read.rate, media_rate))
        assert got[1][:2] == (10, frames.media_count(lengths[1], read.rate, media_rate))
        assert got[2][:2] == (13, frames.media_count(lengths[2], read.rate, media_rate))
        assert got[2][2] == late.GetStart() - read.start  # the gap took up the difference
        for (_first, count, _r), length in zip(got, lengths, strict=True):
            assert frames.on_timeline(count, read.rate, media_rate) == length  # covers it


def test_a_track_placement_no_whole_media_frames_can_fill_is_refused() -> None:
    pal_on_24 = Item("a", "a", 1, 100, 123, path="/a.mov", media_rate=Fraction(25))
    film_on_25 = Item("b", "b", 1, 100, 124, path="/b.mov", media_rate=Fraction(24))
    assert placement.cannot_place_on_track(pal_on_24, Fraction(24)) is None
    why = placement.cannot_place_on_track(film_on_25, Fraction(25))
    assert why is not None and "24 fps on this 25 fps timeline" in why
    assert "exactly 24 timeline frames" in why
    assert 'as a take (placement "take")' in why  # a take keeps the item's length
    film_on_25.end = 123  # 23 frames of 24 fps media fill 23 frames at 25
    assert placement.cannot_place_on_track(film_on_25, Fraction(25)) is None
    same = Item("c", "c", 1, 100, 124, path="/c.mov", media_rate=Fraction(25))
    assert placement.cannot_place_on_track(same, Fraction(25)) is None


# ------------------------------------------------------------------ placement


def test_free_track_and_prompts_from_markers() -> None:
    f = facts(CUT, markers=[Marker(86410, "Rain", "kling: rain on a roof", "Blue", 60),
                            Marker(86450, "kling: a dog", "", "Red", 1),
                            Marker(86460, "note", "not a prompt", "Red", 1)])
    assert placement.free_track(f, 86410, 86470) is None  # V1-V3 all busy
    assert placement.free_track(f, 86462, 86470, lowest=2) == 2
    found = placement.prompts(f, default_seconds=5)
    assert [(p.text, p.frame, p.seconds, p.span) for p in found] == [
        ("rain on a roof", 86410, 3, 60), ("a dog", 86450, 5, None)]
    assert placement.aspect_ratio(1080, 1920) == "9:16"
    assert placement.aspect_ratio(320, 180) == "16:9"


RUN = [  # (frame from the start, length in frames, words) at 25 fps
    (10, 50, "kling: wide street at dusk"), (60, 50, "kling: her face, neon light"),
    (110, 20, "kling: the sign flickers"),  # touching: one clip of 3 shots, 120 frames
    (200, 30, "kling: 4s rain on a tin roof"),  # asks for 4 s
    (300, 110, "kling: harbour at dawn"),  # one ranged marker: 5 s asked, 110 frames kept
    # seven touching 1-s markers: at most 6 shots, so the seventh starts a new clip
    *[(500 + 25 * n, 25, f"kling: beat {n}") for n in range(7)],
    # 8 s + 8 s touching: over 15 s, so two clips
    (1000, 200, "kling: long one"), (1200, 200, "kling: long two"),
    (1500, 40, "kling: gap before"), (1541, 40, "kling: a frame off still touches"),
]


def test_touching_prompt_markers_group_exactly_as_the_daemon_groups_them() -> None:
    """The plugin's rule (Python 3.6, no OpenTimelineIO) against the daemon's own: the same
    markers in an OTIO timeline go through ``select`` and must make the same clips --
    shots, seconds, where each starts and how many frames it fills."""
    import opentimelineio as otio

    rate = 25
    start = 90000  # 01:00:00:00
    markers = [Marker(start + f, "", words, "Blue", n) for f, n, words in RUN]
    markers.append(Marker(start + 900, "Dog", "kling: a dog", "Red", 1))  # a point marker
    found = placement.prompts(facts([], rate=Fraction(rate), start=start, markers=markers),
                              default_seconds=5)
    timeline = otio.schema.Timeline("Cut", global_start_time=otio.opentime.RationalTime(
        start, rate))
    track = otio.schema.Track("Video 1")
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
        duration=otio.opentime.RationalTime(2000, rate))))
    timeline.tracks.append(track)
    for f, n, words in RUN:
        timeline.tracks.markers.append(otio.schema.Marker(
            marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(f, rate),
                                                 otio.opentime.RationalTime(n, rate)),
            comment=words))
    daemon = select(timeline, Criteria(default_seconds=5)).generations
    ranged = [p for p in found if p.span is not None]
    assert len(ranged) == len(daemon) == 8
    for mine, theirs in zip(ranged, daemon, strict=True):
        shots = [(s.prompt, s.duration) for s in theirs.shots]
        assert mine.shots == shots
        assert (mine.text if not shots else "") == theirs.prompt
        assert mine.seconds == theirs.duration
        assert theirs.placement is not None and theirs.conform is not None
        assert mine.frame - start == theirs.placement.record_start
        assert mine.span == theirs.conform.frames == theirs.placement.record_duration
    first, asked, single = ranged[0], ranged[1], ranged[2]
    assert first.shots == [("wide street at dusk", 2), ("her face, neon light", 2),
                           ("the sign flickers", 1)] and first.span == 120
    assert (asked.text, asked.seconds, asked.span) == ("rain on a tin roof", 4, 100)
    assert (single.seconds, single.span, single.shots) == (5, 110, [])
    assert [len(p.shots) for p in ranged[3:]] == [6, 0, 0, 0, 2]
    assert (ranged[4].seconds, ranged[4].span) == (3, 25)  # the seventh beat, on its own
    (dog,) = [p for p in found if p.span is None]
    assert (dog.text, dog.seconds, dog.span, dog.name) == ("a dog", 5, None, "Dog")


def test_a_dropped_append_is_named_with_what_blocked_it() -> None:
    blocker = clip("other", 2, 86400, 86450)
    problem = placement.check_clip([blocker], 86420, 30, "/r.mov", 2, "'shot'")
    assert problem is not None and "track 2 is taken there by 'other' on V2" in problem
    assert "drops overlapping" in problem
    landed = clip("new", 2, 86420, 86450, path="/r.mov")
    assert placement.check_clip([blocker, landed], 86420, 30, "/r.mov", 2, "x") is None
    short = clip("new", 2, 86420, 86449, path="/r.mov")
    assert "29 frames long, not 30" in str(placement.check_clip([short], 86420, 30, "/r.mov",
                                                                2, "x"))


def test_a_take_is_judged_on_a_fresh_read() -> None:
    before = clip("a", 1, 86400, 86448)
    good = Item("a", "a", 1, 86400, 86448, path="/r.mov", takes=2)
    assert placement.check_take(before, good, "/r.mov", 0) is None
    assert "gone" in str(placement.check_take(before, None, "/r.mov", 0))
    moved = Item("a", "a", 1, 86400, 86447, path="/r.mov", takes=2)
    assert "moved or changed length" in str(placement.check_take(before, moved, "/r.mov", 0))
    not_showing = Item("a", "a", 1, 86400, 86448, path="/m.mov", takes=2)
    assert "not the one showing" in str(placement.check_take(before, not_showing, "/r.mov", 0))
    assert placement.same_file("C:\\Media\\A.mov", "c:/media/a.mov")


# ------------------------------------------------------------------ settings and ledger


def test_settings_file_is_written_on_first_run_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "resolve.json"
    assert load(str(path)) == DEFAULTS and json.loads(path.read_text()) == DEFAULTS
    path.write_text(json.dumps({"placement": "overwrite"}))
    with pytest.raises(SettingsError, match="placement is 'overwrite'") as caught:
        load(str(path))
    assert "take, track" in str(caught.value)
    for bad, words in (({"variants": 9}, "variants is 9; it must be 1 to 8"),
                       ({"clip_colour": "Red"}, "not a Resolve clip colour"),
                       ({"wait": 3}, "unknown key 'wait'"),
                       ({"broll_audio": "yes"}, "true or false"),
                       ({"preset": "", "prompt": " "}, "needs a preset or a prompt")):
        with pytest.raises(SettingsError, match=words):
            validate(bad)
    path.write_text("{not json")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load(str(path))
    assert validate({"clip_colour": "teal"})["clip_colour"] == "Teal"
    save({"variants": 2}, str(path))
    assert load(str(path))["variants"] == 2


def test_a_waiting_script_asks_once_a_second_unless_told_otherwise() -> None:
    """The tests' knob (KLING_BRIDGE_RESOLVE_POLL_SECONDS): unset, a second; set, its value;
    not a number of seconds from 0.05 to 10, refused by name -- never quietly a second."""
    assert poll_seconds({}) == 1.0 and poll_seconds({POLL_ENV: " "}) == 1.0
    assert poll_seconds({POLL_ENV: "0.05"}) == 0.05 and poll_seconds({POLL_ENV: "2.5"}) == 2.5
    for bad in ("fast", "0", "-1", "nan", "inf", "11"):
        with pytest.raises(SettingsError, match=f"{POLL_ENV} is '{bad}'; it must be a number"):
            poll_seconds({POLL_ENV: bad})


def test_ledger_remembers_per_project_and_keeps_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "resolve-batches.json"
    ledger = Ledger(str(path))
    ledger.add("p1", "Show", {"batch_id": "b1", "kind": "restyle"})
    ledger.add("p2", "Other", {"batch_id": "b2", "kind": "generate"})
    again = Ledger(str(path))
    assert [b["batch_id"] for b in again.open_batches("p1")] == ["b1"]
    again.record("p1", "b1", "j1", "applied")
    again.close("p1", "b1")
    third = Ledger(str(path))
    assert third.open_batches("p1") == [] and len(third.open_batches("p2")) == 1
    sending = third.begin("p1", "Show", "/restyle", {"timeline": {}, "look": {}},
                          {"kind": "restyle", "targets": {}})
    assert sending["key"].startswith("resolve:") and sending["batch_id"] is None
    (waiting,) = Ledger(str(path)).open_batches("p1")  # remembered before it is sent
    assert waiting["key"] == sending["key"]
    assert third.request(waiting) == {"path": "/restyle", "body": {"timeline": {}, "look": {}}}
    third.sent("p1", sending["key"], "b9")
    (sent,) = Ledger(str(path)).open_batches("p1")
    assert sent["batch_id"] == "b9" and third.request(sent) is None  # the body is let go
    refused = third.begin("p1", "Show", "/generate", {"prompt": "x"}, {"kind": "generate"})
    third.drop("p1", refused["key"], "refused: no_prompt")
    assert [b["batch_id"] for b in Ledger(str(path)).open_batches("p1")] == ["b9"]
    assert not list((tmp_path / "resolve-requests").glob("*.json"))
    path.write_text("{half a file")
    fresh = Ledger(str(path))
    assert fresh.open_batches("p2") == []
    assert list(tmp_path.glob("resolve-batches.json.unreadable-*"))  # kept for a human


# ------------------------------------------------------------------ the window's logic


class _Session:
    def __init__(self) -> None:
        self.settings = validate({})
        self.said: list[str] = []
        self.say = self.said.append


def test_window_form_and_its_values_as_settings() -> None:
    from kling_bridge_resolve.dialog import Controller

    saved: list[dict[str, object]] = []
    presets = [{"id": "film-noir", "name": "Film noir", "category": "style"},
               {"id": "watercolor", "name": "Watercolor", "category": "style"}]
    window = Controller(_Session(), presets, saved.append, info="Resolve Studio 20.2")
    form = window.form()
    assert form["presets"] == ["Film noir (style)", "Watercolor (style)", "(prompt only)"]
    assert (form["preset_index"], form["placement_index"], form["variants"]) == (0, 0, 1)
    new = window.settings_from({"preset_index": 2, "prompt": " pencil sketch ", "variants": 3,
                                "placement_index": 1})
    assert (new["preset"], new["prompt"], new["variants"], new["placement"]) == (
        "", "pencil sketch", 3, "track")
    with pytest.raises(SettingsError, match="needs a preset or a prompt"):
        window.settings_from({"preset_index": 2, "prompt": "", "variants": 1,
                              "placement_index": 0})
    shown = window._run({"preset_index": 1, "prompt": "", "variants": 9, "placement_index": 0},
                        lambda: "never")
    assert "variants is 9" in shown["Progress"] and saved == []  # refused, nothing saved
