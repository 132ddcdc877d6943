"""B-roll through the daemon (at the playhead; from touching prompt markers as one
multi-shot clip) and submissions that survive a lost answer -- each through the entry
script Resolve runs, the fake Resolve and a real daemon (draft provider)."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from helpers import custom_markers, cut, probe_frames, take_paths
from lossy_proxy import LossyProxy, lose_first, never

WAIT = {"wait_seconds": 180}


def entries(editor: Any) -> list[dict[str, Any]]:
    (project,) = json.loads(editor.ledger_file.read_text())["projects"].values()
    return project["batches"]


def test_broll_at_the_playhead_lands_there_to_the_frame(editor, media) -> None:
    """No kling: marker: the settings' prompt, at the playhead (29.97 fps, 01:00:00:00),
    on the first free track above the cut, conformed to the timeline's rate, with sound."""
    app, timeline, _items = cut(media["29.97"], "29.97", version=(20, 2, 0, 0))
    start = timeline.GetStartFrame()
    timeline.SetCurrentTimecode("01:00:01:10")  # over the second clip (frames 24-53)
    editor.save(app)
    editor.settings(broll_prompt="a paper boat in a gutter, rain", broll_seconds=3,
                    broll_audio=True, resolution="720p", **WAIT)

    run = editor.run("generate")

    assert run.code == 0, run.console
    assert "B-roll: at the playhead (01:00:01:10)" in run.console
    app = editor.load()
    (broll,) = app.items("video", 2)
    path = app.media(broll["media"])["props"]["File Path"]
    assert probe_frames(path) == (90, Fraction(30000, 1001))  # 3 s, the timeline's rate
    assert (broll["start"], broll["duration"], broll["left"]) == (start + 40, 90, 0)
    assert custom_markers(broll)
    (sound,) = app.items("audio", 2)  # A1 holds the cut's sound
    assert (sound["start"], sound["duration"], sound["media"]) == (start + 40, 90,
                                                                   broll["media"])
    assert [i["start"] for i in app.items("video", 1)] == [start, start + 24]  # untouched


def test_touching_prompt_markers_make_one_multishot_clip_at_the_first(editor, daemon,
                                                                      media) -> None:
    """Three touching ranged markers (2 s, 2 s, 0.8 s at 25 fps) are one job of three
    shots, placed at the first marker and ending where the last one ends; a marker
    elsewhere (past the cut) is a clip of its own."""
    app, timeline, _items = cut(media["25"], "25", version=(19, 1, 3, 7))
    start = timeline.GetStartFrame()
    for frame, name, words, length in ((10, "Street", "kling: wide street at dusk", 50),
                                       (60, "Face", "kling: her face, neon light", 50),
                                       (110, "Sign", "kling: the sign flickers", 20),
                                       (300, "Dog", "kling: a dog runs by", 75)):
        assert timeline.AddMarker(frame, "Blue", name, words, length)
    editor.save(app)
    editor.settings(resolution="720p", broll_audio=False, **WAIT)

    run = editor.run("generate")

    assert run.code == 0, run.console
    assert "B-roll: 4 kling: markers -> 2 clips" in run.console
    assert "Street at 01:00:00:10: 5 s in 3 shots" in run.console
    app = editor.load()
    (first,) = app.items("video", 2)  # V1 holds the cut there
    second = app.items("video", 1)[-1]  # nothing under the dog: V1 is the first free track
    # 120 frames of markers ask for 5 s (shots 2 + 2 + 1); the clip is cut where they end
    assert (first["start"], first["duration"], first["left"]) == (start + 10, 120, 0)
    assert probe_frames(app.media(first["media"])["props"]["File Path"]) == (125, 25)
    assert (second["start"], second["duration"]) == (start + 300, 75)
    client = daemon.client()
    specs = {}
    for entry in entries(editor):
        (job,) = client.batch(entry["batch_id"])["jobs"]
        specs[job["spec"]["placement"]["record_start"]] = job["spec"]
    assert specs[10]["shots"] == [{"prompt": "wide street at dusk", "duration": 2},
                                  {"prompt": "her face, neon light", "duration": 2},
                                  {"prompt": "the sign flickers", "duration": 1}]
    assert specs[10]["duration"] == 5 and specs[300]["shots"] == []
    assert specs[300]["prompt"] == "a dog runs by" and specs[300]["duration"] == 3
    assert app.timeline(timeline.GetUniqueId())["audio"][1:] == []  # no sound asked: no track


def test_one_refused_broll_leaves_the_others_going(editor, daemon, media) -> None:
    """Each B-roll is its own request: when the daemon refuses one (here the proxy spoils
    its body so the real daemon answers 400), the script says which and why, forgets it
    (nothing was made), and the other B-roll is still sent and placed."""
    app, timeline, _items = cut(media["25"], "25", version=(20, 2, 0, 0))
    start = timeline.GetStartFrame()
    for frame, name, words in ((10, "Street", "kling: wide street at dusk"),
                               (300, "Dog", "kling: a dog runs by")):
        assert timeline.AddMarker(frame, "Blue", name, words, 1)
    editor.save(app)
    editor.settings(resolution="720p", broll_audio=False, **WAIT)

    def spoil(method: str, path: str, body: Any) -> Any:
        if path == "/v1/generate" and not body.get("dry_run") and "dog" in body["prompt"]:
            return dict(body, duration=99)  # the daemon takes 1-15 s
        return None

    proxy = LossyProxy(json.loads(daemon.discovery.read_text())["port"], never, spoil=spoil)
    editor.use_port(proxy.port)
    try:
        run = editor.run("generate")
    finally:
        proxy.close()

    assert run.code == 0, run.console
    assert "! Dog: the daemon refused it: " in run.console, run.console
    assert "Street at 01:00:00:10: 5 s (batch " in run.console
    assert "Traceback" not in run.console
    refused = [x for x in proxy.log if x.status == 400]
    assert len(refused) == 1 and refused[0].body["duration"] == 99
    app = editor.load()
    (street,) = app.items("video", 2)
    assert (street["start"], street["duration"], street["left"]) == (start + 10, 125, 0)
    assert [i["start"] for i in app.items("video", 1)] == [start, start + 24]  # no dog
    dog, street_entry = sorted(entries(editor), key=lambda e: e["spot"]["name"])
    assert dog["closed"] and dog["batch_id"] is None
    assert dog["closed_because"].startswith("refused: ")
    assert street_entry["closed"] and list(street_entry["outcomes"].values()) == ["applied"]
    assert not list((editor.home / "config" / "resolve-requests").glob("*.json"))


def test_a_lost_answer_is_asked_again_with_the_same_key_one_batch_only(editor, daemon,
                                                                        media) -> None:
    """The daemon makes the batch but its answer never reaches the script (the network, or
    the script stopped). The ledger held the request and its key before it was sent; the
    next run sends it again with that key and gets the same batch -- one batch, one take
    per clip, nothing paid twice."""
    app, _timeline, items = cut(media["25"], "25", version=(20, 2, 0, 0))
    for item in items:
        item.SetClipColor("Orange")
    editor.save(app)
    # a cheap look at Kling's smallest size: what is tested is the resend, not the pixels
    editor.settings(clip_colour="Orange", preset="fog", resolution="720p", **WAIT)
    daemon_port = json.loads(daemon.discovery.read_text())["port"]
    proxy = LossyProxy(daemon_port, lose_first("/v1/restyle"))
    editor.use_port(proxy.port)
    try:
        first = editor.run("restyle")

        assert "no answer to the request" in first.console, first.console
        assert "asks the daemon again with the same key" in first.console
        assert "Traceback" not in first.console
        (lost,) = [x for x in proxy.log if x.dropped]
        assert lost.status == 201  # the daemon made it; the script never heard
        made = lost.answer["batch_id"]
        (waiting,) = entries(editor)
        assert waiting["batch_id"] is None and not waiting["closed"]
        assert waiting["key"] == lost.body["idempotency_key"]

        second = editor.run("collect")

        assert second.code == 0, second.console
        assert (f"had lost its answer; asked again with the same key: batch {made} "
                "(the one it made then)") in second.console
    finally:
        proxy.close()
    sends = [x for x in proxy.log if x.method == "POST" and x.path == "/v1/restyle"
             and not x.body.get("dry_run")]
    assert [(x.status, x.answer["batch_id"]) for x in sends] == [(201, made), (200, made)]
    assert sends[1].body["idempotency_key"] == lost.body["idempotency_key"]
    (entry,) = entries(editor)
    assert entry["batch_id"] == made and entry["closed"]
    assert sorted(entry["outcomes"].values()) == ["applied", "applied"]
    app = editor.load()
    for item in app.items("video", 1):
        assert len(item["takes"]) == 2 and item["take"] == 2, item
        assert len(custom_markers(item)) == 1
        assert take_paths(app, item)[1] != take_paths(app, item)[0]
    assert not list((editor.home / "config" / "resolve-requests").glob("*.json"))
