"""The extension in real Blender (4.2 LTS, 4.5 LTS, 5.0, 5.2 LTS) against a real daemon.

Every fact here was produced by ``scenario.py`` inside a ``bpy`` wheel: strips made with
Blender's own data API, the extension installed from its zip as Blender installs it, jobs
rendered by the daemon's draft provider. See conftest.py for which versions run.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

Facts = dict[str, Any]

# One worker runs Blender (see conftest: one process per version); the other goes on.
pytestmark = pytest.mark.xdist_group("blender")


def by_name(strips: list[Facts], name: str) -> Facts:
    found = [s for s in strips if s["name"] == name]
    assert len(found) == 1, (name, [s["name"] for s in strips])
    return found[0]


def results(strips: list[Facts], kind: str, sound: bool = False) -> list[Facts]:
    return [s for s in strips if s["props"].get("kling_kind") == kind
            and (s["type"] == "SOUND") == sound]


def has_audio(main: Facts) -> bool:
    return main.get("sound_25_added") is True


def test_every_step_ran_and_blender_exited_cleanly(blender: Facts) -> None:
    main = blender["main"]
    assert main["errors"] == {}, "\n".join(main["errors"].values())
    assert main["exit_code"] == 0, main["log"]
    assert blender["reopen"]["errors"] == {}, blender["reopen"]["errors"]
    assert blender["reopen"]["exit_code"] == 0, blender["reopen"]["log"]


def test_register_and_unregister_leave_nothing_behind(blender: Facts) -> None:
    main = blender["main"]
    before, registered = main["before"], main["registered"]
    assert before["types"] == [] and before["ops"] == [] and not before["alias"]
    assert "KLING_BRIDGE_PT_panel" in registered["types"]
    assert {"restyle", "generate", "multishot", "lipsync", "cancel", "select_result",
            "swap"} <= set(registered["ops"])
    for menu, count in before["menus"].items():
        assert registered["menus"][menu] == count + 1, menu
    for name, count in before["handlers"].items():
        assert registered["handlers"][name] == count + 1, name
    assert registered["alias"] and registered["timer_before_work"] is False
    # work in flight (a watched batch, a request) when the user disables the extension
    assert main["busy_runtime"] == {"timer": True, "thread": True}
    keys = ("types", "ops", "menus", "handlers", "alias", "threads")
    for state in ("disabled", "final"):
        assert {k: main[state][k] for k in keys} == {k: before[k] for k in keys}, state
        assert main[state]["old_timer"] is False and main[state]["old_thread"] is False
    assert {k: main["reenabled"][k] for k in keys[:4]} == {k: registered[k] for k in keys[:4]}


def test_online_access_off_is_refused_with_the_way_out(blender: Facts) -> None:
    main = blender["main"]
    assert main["online_default"] is False  # the bpy module's default
    message = main["offline_message"]
    assert "online access is off" in message and "Allow Online Access" in message
    assert main["online_after"] is True


def test_restyle_at_25_lands_on_the_first_free_channel_above_its_source(
        blender: Facts) -> None:
    main = blender["main"]
    strips = main["strips_Edit 25"]
    source = by_name(strips, "shot 25")
    sent = main["source_25"]
    assert {k: source[k] for k in ("channel", "start", "length", "trim", "mute", "path")} == \
        {k: sent[k] for k in ("channel", "start", "length", "trim", "mute", "path")}
    # placed at 10 with 5 frames trimmed off its head: frames 15-54 show media frames 5-44
    assert (source["channel"], source["start"], source["length"], source["trim"]) == (2, 15,
                                                                                      40, 5)
    (result,) = results(strips, "restyle")
    # channel 3 holds the title card over frames 30-39: the result goes to channel 4
    assert by_name(strips, "title card")["channel"] == 3
    assert (result["channel"], result["start"], result["length"]) == (4, 15, 40)
    assert result["name"] == "shot 25 · film-noir" and not result["mute"]
    props = result["props"]
    assert props["kling_job"].startswith("j") and props["kling_batch"].startswith("b")
    assert props["kling_preset"] == "film-noir" and props["kling_kind"] == "restyle"
    assert props["kling_model"] == "kling-3.0-omni" and props["kling_provider"] == "draft"
    assert props["kling_draft"] in (True, 1) and props["kling_price_usd"] == 0.0
    assert props["kling_source"] == source["props"]["kling_id"]
    assert Path(result["path"]).is_file() and result["path"] != source["path"]
    spec = main["specs"]["shot 25 · film-noir"]
    assert (spec["source"]["start_frame"], spec["source"]["frame_count"]) == (5, 40)
    assert spec["source"]["path"] == source["path"]
    assert Fraction(spec["source"]["rate"]) == Fraction(spec["clip"]["timeline_rate"]) == 25
    assert spec["clip"]["track_index"] == 1  # channel 2
    if has_audio(main):  # its sound stays where it was (the 4.2 module has no audio)
        sound = by_name(strips, "shot 25 sound")
        assert (sound["channel"], sound["start"], sound["length"]) == (1, 10, 100)
    assert main["applied_again"] == []


def test_restyle_at_2997_keeps_the_exact_rate(blender: Facts) -> None:
    main = blender["main"]
    strips = main["strips_Edit 2997"]
    source = by_name(strips, "shot 2997")
    assert (source["channel"], source["start"], source["length"]) == (1, 1, 100)
    (result,) = results(strips, "restyle")
    assert (result["channel"], result["start"], result["length"]) == (2, 1, 100)
    assert result["props"]["kling_preset"] == "watercolor"
    spec = main["specs"]["shot 2997 · watercolor"]
    assert Fraction(spec["clip"]["timeline_rate"]) == Fraction(30000, 1001)
    assert Fraction(spec["source"]["rate"]) == Fraction(30000, 1001)
    assert (spec["source"]["start_frame"], spec["source"]["frame_count"]) == (0, 100)
    assert main["price_2997"].startswith("draft, free")
    assert main["restyle_2997_answer"]["draft"] is True


def test_generated_clip_lands_at_its_frame_with_its_sound(blender: Facts) -> None:
    main = blender["main"]
    strips = main["strips_Edit 2997"]
    (video,) = results(strips, "generate")
    # channels 1 and 2 hold the source and its restyle over frame 20: channel 3 is free
    assert (video["channel"], video["start"], video["length"]) == (3, 20, 90)
    assert video["props"]["kling_prompt"] == "rain on a tin roof, close up"
    assert video["props"]["kling_model"] == "kling-3.0"
    spec = main["generate_answer"]["spec"]
    assert spec["conform"] == {"rate": "30000/1001", "width": 320, "height": 180, "frames": None}
    assert spec["placement"]["record_start"] == 20 and spec["aspect_ratio"] == "16:9"
    assert spec["audio"] is True and spec["duration"] == 3
    if has_audio(main):
        (sound,) = results(strips, "generate", sound=True)
        assert (sound["channel"], sound["start"], sound["length"]) == (4, 20, 90)
        assert sound["props"]["kling_job"] == video["props"]["kling_job"]
        assert sound["path"] == video["path"]


def test_multishot_from_selected_markers(blender: Facts) -> None:
    main = blender["main"]
    spec = main["multishot_spec"]
    assert spec["shots"] == [{"prompt": "wide street at dusk", "duration": 2},
                             {"prompt": "her face, neon light", "duration": 2}]
    assert spec["placement"]["record_start"] == 200
    (clip,) = [s for s in results(main["strips_Edit 25"], "generate")
               if s["start"] == 200]
    assert (clip["channel"], clip["length"]) == (1, 100)  # 4 s at 25 fps


def test_lipsync_from_a_sound_and_a_face(blender: Facts) -> None:
    main = blender["main"]
    if "lipsync_skipped" in main:
        assert "Audaspace" in main["lipsync_skipped"]  # the 4.2 module has no audio
        pytest.skip("the Blender 4.2 Python module has no audio: " + main["lipsync_skipped"])
    spec = main["lipsync_spec"]
    assert spec["audio"].endswith("dialogue.wav") and spec["image"].endswith("face.png")
    assert spec["audio_start"] == 0.0
    sound = main["lipsync_sound"]
    assert abs(spec["audio_end"] - sound["length"] * 1001 / 30000) < 1e-3
    (video,) = results(main["strips_Edit 2997"], "lipsync")
    # the face is on channel 5, the dialogue on 6: the result goes above both
    assert (video["channel"], video["start"]) == (7, 300)
    assert video["length"] > 0


def test_swap_and_select_result(blender: Facts) -> None:
    main = blender["main"]
    assert main["swap_1"] == {"result_mute": True, "source_mute": False}
    assert main["swap_2"] == {"result_mute": False, "source_mute": True}
    assert main["select_result"] == ["shot 25 · film-noir"]


def test_panels_menus_and_dialogs_draw_in_background_mode(blender: Facts) -> None:
    main = blender["main"]
    drawn = main["drawn"]
    assert "film-noir" in main["presets"] and main["preset_search"] == ["film-noir"]
    assert any("shot 25 · film-noir" in label for label in drawn["jobs"])
    assert "draft, free" in drawn["jobs"]
    for dialog in ("restyle", "generate", "multishot"):
        assert any(label.startswith("Price: draft, free") for label in drawn[dialog]), (
            dialog, drawn[dialog])
        assert "Price: asking the daemon..." in drawn[dialog + "_first"], dialog
    assert "1 strip(s) selected" in drawn["restyle"]
    assert "1. 2 s  wide street at dusk" in drawn["multishot"]
    assert "Choose a preset or write a prompt" in drawn["restyle_empty"]
    assert drawn["preferences"]
    if has_audio(main):
        assert any(label.startswith("Price: draft, free") for label in drawn["lipsync"])


def test_results_survive_save_and_reload(blender: Facts) -> None:
    main = blender["main"]
    for scene in ("Edit 25", "Edit 2997"):
        assert main["reloaded"][scene] == main["saved"][scene], scene
        kinds = [s["props"].get("kling_kind") for s in main["reloaded"][scene]]
        assert "restyle" in kinds and "generate" in kinds, scene


def test_job_finished_while_blender_was_closed_is_applied_on_load(blender: Facts) -> None:
    main, reopen = blender["main"], blender["reopen"]
    assert blender["pending_final"] == "succeeded"
    assert reopen["reopen_enabled"] and reopen["reopen_online"]
    batch = main["pending_batch"]
    (clip,) = [s for s in reopen["reopened"] if s["props"].get("kling_batch") == batch]
    assert (clip["channel"], clip["start"], clip["length"]) == (1, 500, 75)
    record = next(b for b in reopen["reopen_jobs"]["batches"] if b["id"] == batch)
    assert record["state"] == "succeeded"
    assert [j["applied"] for j in record["jobs"].values()] == [[clip["name"]]]


def test_the_daemon_is_started_when_none_runs(blender: Facts) -> None:
    if "autostart" not in blender:
        pytest.skip("checked on the first Blender version of the run only")
    auto = blender["autostart"]
    assert auto.get("errors") == {}, auto
    assert auto["exit_code"] == 0, auto.get("log")
    missing = auto["not_installed"]
    assert missing["code"] == "not_installed"
    assert "'kling-bridge' command was not found" in missing["text"]
    assert "kling-bridge serve" in missing["text"] and "Preferences" in missing["text"]
    assert auto["autostart_answer"] == {"draft": True, "dry_run": True}
    assert len(auto["autostart_pids"]) == 1


def test_the_timer_drains_then_stops_and_undo_keeps_jobs(blender: Facts) -> None:
    main = blender["main"]
    assert main["tick"] == {"first": 0.25, "last": None, "health_ok": True}
    assert main["undo_restored"] is True


def probe_frames(path: str) -> tuple[int, Fraction]:
    import json
    import subprocess

    out = subprocess.check_output(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
         "stream=nb_read_packets,r_frame_rate", "-of", "json", path])
    stream = json.loads(out)["streams"][0]
    return int(stream["nb_read_packets"]), Fraction(stream["r_frame_rate"])


def test_a_movie_at_another_rate_is_restyled_exactly_when_blender_plays_it_frame_for_frame(
        blender: Facts) -> None:
    """A 25 fps movie in a 24 fps scene. Added by the data API, Blender shows one source
    frame per scene frame: the restyle asks for exactly those frames (at 25 fps) and the
    result covers the same scene frames. Added by the UI (Adjust Playback Rate), Blender
    plays it in real time with its own rounding: refused, with what to do."""
    main = blender["main"]
    source, realtime = main["source_24"], main["realtime_24"]
    assert (source["channel"], source["start"], source["length"], source["trim"]) == (1, 4,
                                                                                      60, 3)
    assert (realtime["channel"], realtime["start"], realtime["length"]) == (2, 200, 96)
    (skipped,) = main["restyle_24"]["skipped"]
    assert skipped["name"] == "pal realtime"
    assert "a 25 fps movie played at its own speed in a 24 fps scene" in skipped["reason"]
    assert "Adjust Playback Rate" in skipped["reason"]
    (spec,) = main["restyle_24"]["specs"]
    assert (spec["source"]["start_frame"], spec["source"]["frame_count"],
            spec["source"]["rate"]) == (3, 60, "25")
    assert spec["clip"]["timeline_rate"] == "24"
    (result,) = results(main["strips_Edit 24"], "restyle")
    assert (result["channel"], result["start"], result["length"]) == (2, 4, 60)
    assert probe_frames(result["path"]) == (60, Fraction(25))


def test_a_job_cancelled_from_the_job_list(blender: Facts) -> None:
    cancel = blender["main"]["cancel"]
    assert cancel["op"] == ["FINISHED"]
    assert cancel["record"][0] == "cancelled" and cancel["daemon"] == "cancelled"
    assert cancel["strips"] == [] and cancel["watched"] is False  # nothing placed, not polled
    assert "cancelled" in cancel["drawn"]


def test_a_lost_answer_is_asked_again_on_load_and_finds_the_same_batch(
        blender: Facts) -> None:
    """The generation's answer was lost (the daemon made the batch); the file was saved
    knowing only the request and its key. Opened again, the extension sends the request
    with that key: the daemon answers the batch it made -- one batch, one clip."""
    main, reopen = blender["main"], blender["reopen"]
    assert "no answer to the request" in main["lost_error"]
    assert "asked again with the same key" in main["lost_error"]
    (waiting,) = main["lost_record"]
    assert (waiting["state"], waiting["id"]) == ("sending", "")
    assert blender["lost_final"] == "succeeded"
    (record,) = [b for b in reopen["reopen_jobs"]["batches"] if b.get("key") == main["lost_key"]]
    assert record["id"] == main["lost_batch"] and record["state"] == "succeeded"
    assert any("already submitted with this idempotency_key" in n for n in record["notes"])
    (clip,) = [s for s in reopen["reopened"] if s["props"].get("kling_batch") == record["id"]]
    assert (clip["channel"], clip["start"], clip["length"]) == (1, 700, 75)


def test_the_readme_headless_script_runs_as_a_background_python_script(
        blender: Facts) -> None:
    """``blender --background headless.blend --online-mode --python restyle.py``, through the
    bpy module: the README's script, as written, on the opened file (a 25 fps scene with a
    25 fps and a 29.97 fps movie), restyles both, generates at frame 120, waits, saves."""
    headless = blender["headless"]
    assert headless["errors"] == {}, "\n".join(headless["errors"].values())
    assert headless["exit_code"] == 0, headless["log"]
    strips = headless["headless"]
    sources = {s["name"]: s for s in strips if s["name"] in ("shot 1", "shot 2")}
    made = results(strips, "restyle")
    assert len(made) == 2
    for result in made:
        source = next(s for s in sources.values()
                      if s["props"]["kling_id"] == result["props"]["kling_source"])
        assert result["channel"] > source["channel"]
        assert (result["start"], result["length"]) == (source["start"], source["length"])
        assert result["props"]["kling_preset"] == "film-noir"
    assert {(s["start"], s["length"]) for s in sources.values()} == {(1, 50), (51, 100)}
    (video,) = results(strips, "generate")
    assert (video["start"], video["length"]) == (120, 125)  # 5 s at the scene's 25 fps
    assert video["props"]["kling_prompt"] == "rain on a tin roof, close up"
    record = headless["headless_jobs"]
    assert [b["state"] for b in record["batches"]] == ["succeeded", "succeeded"]
