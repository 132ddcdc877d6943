"""The entry scripts as an editor meets them: each Resolve edition and version, the mistakes
people make (no daemon, a bad settings file, nothing chosen, the library not installed), and
the Studio window -- each run in its own Python, as Resolve runs scripts."""

from __future__ import annotations

import json

from helpers import FREE, STUDIO, cut


def test_free_21_1_says_python_cannot_run_there_and_points_to_the_watch_folder(
        offline_editor, media) -> None:
    app, _t, _i = cut(media["24"], "24", product=FREE, version=(21, 1, 0, 3))
    offline_editor.save(app)
    run = offline_editor.run("restyle")
    assert "free DaVinci Resolve 21.1 and later runs only Lua scripts" in run.console
    assert "File > Export > Timeline" in run.console and "watch folder" in run.console
    assert "Traceback" not in run.console
    # Studio 21.1 runs Python as before (and here finds no daemon)
    app, _t, _i = cut(media["24"], "24", product=STUDIO, version=(21, 1, 0, 3))
    offline_editor.save(app)
    assert "daemon is not running" in offline_editor.run("restyle").console


def test_no_daemon_is_one_clear_line(offline_editor, media) -> None:
    app, _t, _i = cut(media["24"], "24")
    offline_editor.save(app)
    run = offline_editor.run("restyle")
    assert "Kling Bridge: the kling-bridge daemon is not running" in run.console
    assert "kling-bridge serve" in run.console and "Traceback" not in run.console


def test_a_bad_settings_file_names_the_key_and_the_choices(editor, media) -> None:
    app, _t, _i = cut(media["24"], "24")
    editor.save(app)
    editor.settings(placement="overwrite")
    run = editor.run("restyle")
    assert "placement is 'overwrite'" in run.console and "take, track" in run.console
    assert "Traceback" not in run.console
    # the tests' poll knob, set wrong, is refused by name before anything is sent
    editor.settings(placement="take")
    run = editor.run("restyle", env={"KLING_BRIDGE_RESOLVE_POLL_SECONDS": "soon"})
    assert "Kling Bridge: KLING_BRIDGE_RESOLVE_POLL_SECONDS is 'soon'" in run.console
    assert "Traceback" not in run.console
    assert not editor.ledger_file.exists() or \
        json.loads(editor.ledger_file.read_text())["projects"] == {}


def test_nothing_chosen_lists_the_rules_tried(editor, media) -> None:
    app, timeline, _items = cut(media["24"], "24", version=(20, 3, 0, 0))
    timeline.SetCurrentTimecode("02:00:00:00")  # past the end
    editor.save(app)
    editor.settings(clip_colour="Olive")
    run = editor.run("restyle")
    assert "nothing to work on: no clip has the clip colour Olive; no clip under the playhead" \
        in run.console
    assert "set In/Out marks" in run.console
    assert json.loads(editor.ledger_file.read_text())["projects"] == {} \
        if editor.ledger_file.exists() else True


def test_free_19_1_window_script_never_touches_ui_manager(editor, media) -> None:
    app, _t, _i = cut(media["24"], "24", product=FREE, version=(19, 1, 3, 7))
    editor.save(app)
    run = editor.run("dialog")
    assert "offers scripts no window" in run.console
    assert "Kling Bridge - Restyle" in run.console and "resolve.json" in run.console
    app = editor.load()
    assert app.state["upsells"] == 0 and "fu.UIManager" not in app.state["log"]


def test_external_scripting_answers_only_on_studio(editor, media) -> None:
    app, _t, _i = cut(media["24"], "24", product=STUDIO)
    editor.save(app)
    run = editor.run("collect", external=True)
    assert "Nothing waiting" in run.console, run.console
    app, _t, _i = cut(media["24"], "24", product=FREE, version=(20, 0, 0, 0))
    editor.save(app)
    run = editor.run("collect", external=True)
    assert "cannot reach DaVinci Resolve" in run.console
    assert "only Resolve Studio answers" in run.console


def test_library_found_without_file_through_the_environment(editor, media) -> None:
    from conftest import PLUGIN

    app, _t, _i = cut(media["24"], "24")
    editor.save(app)
    lost = editor.run("collect", no_file=True, env={"XDG_DATA_HOME": str(editor.root)})
    assert "the plugin library is missing" in lost.console
    assert "Traceback" not in lost.console
    found = editor.run("collect", no_file=True, env={"KLING_BRIDGE_RESOLVE_LIB": str(PLUGIN)})
    assert "Nothing waiting" in found.console, found.console


def test_studio_window_prices_restyles_and_brings_the_take_in(editor, media) -> None:
    """The Utility script's window (fu.UIManager): choose where results go, Price, Restyle,
    then the window's timer collects the result while the editor keeps working. (The same
    clip and look as the 24 fps end-to-end test: the daemon may answer from its cache.)"""
    app, timeline, _items = cut(media["24"], "24", product=STUDIO, version=(20, 2, 0, 0))
    timeline.SetCurrentTimecode("01:00:01:10")  # over the second clip
    app.state["ui_events"] = [
        ["set", "Placement", "CurrentIndex", 1],  # "Clips on a track above"
        ["set", "Variants", "Value", 1],
        ["click", "PriceButton"],
        ["click", "Restyle"],
        ["until", "Progress", "video track 2", 180],
        ["close"],
    ]
    editor.save(app)
    editor.settings(preset="film-noir", resolution="720p")  # Kling's smallest: frames, not pixels

    run = editor.run("dialog")

    app = editor.load()
    shown: dict[str, list[str]] = {}
    for widget, text in app.state["ui_shown"]:
        shown.setdefault(widget, []).append(text)
    assert any("Price: free" in t for t in shown["Price"]), shown
    assert any("Selection rule: topmost clip under the playhead (01:00:01:10) -- 1 clip" in t
               for t in shown["Progress"])
    (restyled,) = app.items("video", 2)
    assert (restyled["start"], restyled["duration"]) == (86424, 30), run.console
    assert json.loads(editor.settings_file.read_text())["placement"] == "track"
    assert app.state["upsells"] == 0


def test_broll_with_no_marker_and_no_prompt_says_how_to_ask(editor, media) -> None:
    app, _timeline, _items = cut(media["24"], "24")
    editor.save(app)
    run = editor.run("generate")
    assert "no B-roll prompt found" in run.console
    assert "'kling:'" in run.console and "broll_prompt" in run.console
