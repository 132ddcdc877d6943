"""What an editor does with the extension, run inside one real Blender (a ``bpy`` wheel).

    <bpy venv>/bin/python tests/blender/scenario.py PHASE... --zip Z --media M --work W --out O

The test process starts the daemon (draft provider) and runs this per Blender version, in
two Blender processes: ``main``, then (Blender closed) ``reopen headless chains`` -- the
phases after ``reopen`` each start from an empty file and the saved preferences, as a
Blender started for them would:

* ``main``: install the extension zip as Blender does, check register/unregister leave
  nothing behind, restyle at 25 and 29.97 fps (through the operator and the scripting
  API), generate, multi-shot from markers, lip-sync, swap, draw every panel/menu/dialog,
  save and reload -- then send one more generation and save without waiting for it.
  Also: a 25 fps movie in a 24 fps scene (played frame for frame: restyled exactly; played
  in real time: refused), a long job cancelled from the job list, and a generation whose
  answer is lost on the way back (a proxy drops it) before the file is saved.
* ``reopen``: a fresh Blender (the user closed it; the test waited for the jobs to finish in
  the daemon meanwhile) opens the file: the finished result is applied on load, and the
  submission whose answer was lost is asked again with its key -- the same batch.
* ``headless``: what ``blender --background edit.blend --python restyle.py`` does, through
  the bpy module: a file is opened, then the README's headless script runs as ``__main__``.
* ``chains``: both models together -- compare looks, apply one to the rest, more like
  this, next shot, generate then restyle -- in an empty file, saved and reloaded.
* ``autostart``: no daemon runs; the extension starts ``kling-bridge serve`` itself.

Facts go to ``--out``/PHASE.json, with each step's error (traceback) instead of stopping, so
the test reports every broken step; the assertions live in ``test_in_blender.py``.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "resolve"))  # lossy_proxy
import standin

HERE = Path(__file__).resolve().parent

MODULE = "bl_ext.user_default.kling_bridge"
facts: dict[str, Any] = {"errors": {}, "version": list(bpy.app.version),
                         "version_string": bpy.app.version_string}


def step(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            began = time.time()
            try:
                return fn(*args, **kwargs)
            except Exception:
                facts["errors"][name] = traceback.format_exc()
                return None
            finally:
                facts.setdefault("timing", {})[name] = round(time.time() - began, 2)
        return run
    return wrap


def ext():
    return sys.modules[MODULE]


def sub(name: str):
    return sys.modules[MODULE + "." + name]


def editor_strips(scene):
    return sub("compat").strip_collection(scene.sequence_editor)


def strip_facts(strip) -> dict[str, Any]:
    compat = sub("compat")
    start, length, trim = compat.timing(strip)
    out = {"name": strip.name, "type": strip.type, "channel": strip.channel, "start": start,
           "length": length, "trim": trim, "mute": bool(strip.mute)}
    if strip.type == "MOVIE":
        out["path"] = os.path.normpath(bpy.path.abspath(strip.filepath))
    if strip.type == "SOUND":
        out["path"] = os.path.normpath(bpy.path.abspath(strip.sound.filepath))
    out["props"] = {k: (v if isinstance(v, (str, int, float, bool)) else str(v))
                    for k, v in strip.items()}
    return out


def scene_facts(scene) -> list[dict[str, Any]]:
    return sorted((strip_facts(s) for s in editor_strips(scene)),
                  key=lambda f: (f["channel"], f["start"]))


def drain_until(predicate, timeout=60.0) -> bool:
    api = sys.modules["kling_bridge_vse"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        api.drain(wait=0.2)
        if predicate():
            return True
    return False


# ---------------------------------------------------------------------- registration


def snapshot() -> dict[str, Any]:
    menus = {}
    for menu in ("SEQUENCER_MT_strip", "SEQUENCER_MT_context_menu", "SEQUENCER_MT_add"):
        funcs = getattr(bpy.types, menu)._dyn_ui_initialize()
        menus[menu] = len(funcs)
    handlers = {name: len(getattr(bpy.app.handlers, name))
                for name in ("load_pre", "load_post", "undo_post", "redo_post")}
    return {"types": sorted(n for n in dir(bpy.types) if "KLING" in n.upper()),
            "ops": sorted(dir(bpy.ops.kling_bridge)), "menus": menus, "handlers": handlers,
            "alias": "kling_bridge_vse" in sys.modules,
            "threads": sorted(t.name for t in threading.enumerate()
                              if t.name.startswith("kling"))}


@step("install")
def install(zip_path: str) -> None:
    facts["before"] = snapshot()
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                      enable_on_install=True)
    facts["install"] = sorted(result)
    facts["registered"] = snapshot()
    runtime = sub("service").RUNTIME
    facts["registered"]["timer_before_work"] = runtime.timer_registered()


@step("reregister")
def reregister() -> None:
    """Disable with work in flight (a watched batch, a worker, a timer), then enable."""
    service = sub("service")
    runtime = service.RUNTIME
    runtime.watch("b000000000000000000000000", lambda *a: None)
    runtime.submit(lambda c: None, lambda *a: None, start=False)
    facts["busy_runtime"] = {"timer": runtime.timer_registered(),
                             "thread": runtime.thread_alive()}
    bpy.ops.preferences.addon_disable(module=MODULE)
    facts["disabled"] = snapshot()
    facts["disabled"]["old_timer"] = bpy.app.timers.is_registered(runtime.tick)
    facts["disabled"]["old_thread"] = runtime.thread_alive()
    bpy.ops.preferences.addon_enable(module=MODULE)
    facts["reenabled"] = snapshot()


@step("offline")
def offline() -> None:
    """Online access off (the bpy module's default): a clear refusal, nothing sent."""
    facts["online_default"] = bool(bpy.app.online_access)
    scene = bpy.context.scene
    scene.sequence_editor_create()
    try:
        bpy.ops.kling_bridge.generate("EXEC_DEFAULT", prompt="x")
        facts["offline_message"] = None
    except RuntimeError as exc:
        facts["offline_message"] = str(exc)
    bpy.context.preferences.system.use_online_access = True
    facts["online_after"] = bool(bpy.app.online_access)


# ---------------------------------------------------------------------- the edit


def new_scene(name: str, fps: int, base: float):
    scene = bpy.data.scenes.new(name)
    scene.render.fps, scene.render.fps_base = fps, base
    scene.render.resolution_x, scene.render.resolution_y = 320, 180
    scene.sequence_editor_create()
    sub("compat").set_sequencer_scene(scene, bpy.context)
    return scene


@step("scene_25")
def scene_25(media: Path) -> None:
    """25 fps: a trimmed movie on channel 2 with its sound on channel 1, a colour strip in
    the way on channel 3; restyled through the operator (worker thread + drain)."""
    compat = sub("compat")
    scene = new_scene("Edit 25", 25, 1.0)
    strips = editor_strips(scene)
    movie = strips.new_movie(name="shot 25", filepath=str(media / "shot 25.mov"), channel=2,
                             frame_start=10)
    movie.frame_offset_start = 5  # the editor trimmed 5 frames off the head
    movie.frame_final_duration = 40
    facts["source_25"] = strip_facts(movie)
    sound, why = compat.new_sound(scene, "shot 25 sound", str(media / "shot 25.mov"), 1, 10)
    facts["sound_25_added"] = sound is not None or why
    blocker = compat.new_color(scene, "title card", 3, 30, 10)
    facts["blocker"] = strip_facts(blocker)
    for s in strips:
        s.select = s == movie
    assert compat.sequencer_scene(bpy.context) == scene
    result = bpy.ops.kling_bridge.restyle("EXEC_DEFAULT", preset="film-noir", resolution="720p")
    facts["restyle_op"] = sorted(result)
    record = sub("host").read_record
    facts["restyle_recorded"] = drain_until(lambda: bool(record(scene)["batches"]))


@step("scene_2997")
def scene_2997(media: Path) -> None:
    """29.97 fps, through the scripting API: restyle, price, generate at frame 20."""
    api = sys.modules["kling_bridge_vse"]
    scene = new_scene("Edit 2997", 30, 1.001)
    strips = editor_strips(scene)
    movie = strips.new_movie(name="shot 2997", filepath=str(media / "shot 2997.mov"),
                             channel=1, frame_start=1)
    facts["source_2997"] = strip_facts(movie)
    facts["price_2997"] = api.estimate("restyle", strips=[movie], scene=scene,
                                       preset="watercolor", resolution="720p")
    answer = api.restyle([movie], scene=scene, preset="watercolor", resolution="720p")
    facts["restyle_2997_answer"] = {"batch_id": answer["batch_id"], "draft": answer["draft"],
                                    "jobs": [j["spec"] for j in answer["jobs"]]}
    gen = api.generate("rain on a tin roof, close up", frame=20, scene=scene, duration=3,
                       resolution="720p", audio=True)
    facts["generate_answer"] = {"batch_id": gen["batch_id"],
                                "spec": gen["jobs"][0]["spec"]}


@step("multishot")
def multishot() -> None:
    api = sys.modules["kling_bridge_vse"]
    scene = bpy.data.scenes["Edit 25"]
    for frame, name in ((200, "wide street at dusk"), (250, "her face, neon light"),
                        (400, "not selected")):
        marker = scene.timeline_markers.new(name, frame=frame)
        marker.select = name != "not selected"
    answer = api.multishot(scene=scene, last_seconds=2, resolution="720p", audio=False)
    facts["multishot_spec"] = answer["jobs"][0]["spec"]


@step("lipsync")
def lipsync(media: Path) -> None:
    api = sys.modules["kling_bridge_vse"]
    compat = sub("compat")
    scene = bpy.data.scenes["Edit 2997"]
    sound, why = compat.new_sound(scene, "dialogue", str(media / "dialogue.wav"), 6, 300)
    if sound is None:
        facts["lipsync_skipped"] = why
        return
    face = editor_strips(scene).new_image(name="face", filepath=str(media / "face.png"),
                                          channel=5, frame_start=300)
    face.frame_final_duration = 90
    answer = api.lipsync(sound, face, scene=scene, resolution="720p")
    facts["lipsync_spec"] = answer["jobs"][0]["spec"]
    facts["lipsync_sound"] = strip_facts(sound)


@step("wait")
def wait_all() -> None:
    api = sys.modules["kling_bridge_vse"]
    client = sub("service").runtime().client()
    for name in ("Edit 25", "Edit 2997", "Edit 24"):
        # every batch ended in the daemon first: results then land in the order they were
        # asked for, whatever order a loaded machine finished them in (the channels the
        # tests expect depend on it)
        for batch in api.jobs(scene=bpy.data.scenes[name])["batches"]:
            if batch.get("id"):
                client.wait_batch(batch["id"], timeout=300, interval=0.2)
    for name in ("Edit 25", "Edit 2997", "Edit 24"):
        facts["made_" + name] = api.wait(scene=bpy.data.scenes[name], timeout=240)
        facts["jobs_" + name] = api.jobs(scene=bpy.data.scenes[name])
        facts["strips_" + name] = scene_facts(bpy.data.scenes[name])
    facts["applied_again"] = api.apply_finished(scene=bpy.data.scenes["Edit 25"])
    facts["specs"] = {}
    for name in ("Edit 25", "Edit 2997"):
        for batch in api.jobs(scene=bpy.data.scenes[name])["batches"]:
            for job in client.batch(batch["id"])["jobs"]:
                facts["specs"][job["label"]] = job["spec"]


@step("swap")
def swap() -> None:
    scene = bpy.data.scenes["Edit 25"]
    sub("compat").set_sequencer_scene(scene, bpy.context)
    result = next(s for s in editor_strips(scene) if s.get("kling_kind") == "restyle")
    scene.sequence_editor.active_strip = result
    bpy.ops.kling_bridge.swap()
    source = sub("host").find_by_id(scene, result["kling_source"])
    facts["swap_1"] = {"result_mute": result.mute, "source_mute": source.mute}
    bpy.ops.kling_bridge.swap()
    facts["swap_2"] = {"result_mute": result.mute, "source_mute": source.mute}
    bpy.ops.kling_bridge.select_result(job_id=result["kling_job"])
    facts["select_result"] = [s.name for s in editor_strips(scene) if s.select]


@step("timer_and_undo")
def timer_and_undo() -> None:
    """The timer's function (timers never fire here: call it as Blender would), and an undo
    that took a job record away (the undo_post handler puts it back)."""
    service = sub("service")
    runtime = service.RUNTIME
    got = []
    gate = threading.Event()  # the request waits until the first tick saw it in flight
    runtime.submit(lambda client: gate.wait(10) and client.health(),
                   lambda result, error: got.append(result))
    returns = [runtime.tick()]
    gate.set()
    deadline = time.time() + 30
    while returns[-1] is not None and time.time() < deadline:
        time.sleep(0.05)
        returns.append(runtime.tick())
    facts["tick"] = {"first": returns[0], "last": returns[-1], "health_ok": bool(
        got and got[0] and got[0]["ok"])}
    scene = bpy.data.scenes["Edit 25"]
    before = sub("host").read_record(scene)
    del scene["kling_bridge_jobs"]  # what an undo past the submit does to the scene
    for handler in bpy.app.handlers.undo_post:
        if handler.__module__.startswith(MODULE):
            handler(scene)
    facts["undo_restored"] = sub("host").read_record(scene) == before


@step("draw")
def draw_all() -> None:
    """Every panel, menu and dialog drawn (background mode: into the stand-in layout)."""
    ui, ops = sub("ui"), sub("operators")
    compat = sub("compat")
    scene = bpy.data.scenes["Edit 25"]
    compat.set_sequencer_scene(scene, bpy.context)
    drawn: dict[str, list[str]] = {}
    drawn["panel"] = standin.draw(ui.KLING_BRIDGE_PT_panel.draw, standin.Holder(standin.Layout()))
    drawn["jobs"] = standin.draw(ui.KLING_BRIDGE_PT_jobs.draw, standin.Holder(standin.Layout()))
    drawn["menu"] = standin.draw(ui.KLING_BRIDGE_MT_menu.draw, standin.Holder(standin.Layout()))
    for _menu, fn in ui.MENUS:
        drawn[fn.__name__] = standin.draw(fn, standin.Holder(standin.Layout()))
    prefs = bpy.context.preferences.addons[MODULE].preferences
    holder = standin.Holder(standin.Layout())
    holder.daemon_path, holder.auto_start = prefs.daemon_path, prefs.auto_start
    holder._rna_props = {p.identifier for p in prefs.bl_rna.properties}
    drawn["preferences"] = standin.draw(type(prefs).draw, holder)
    source = next(s for s in editor_strips(scene) if s.name == "shot 25")
    for s in editor_strips(scene):
        s.select = s == source
    dialogs: dict[str, tuple[Any, dict[str, Any]]] = {
        "restyle": (ops.KLING_BRIDGE_OT_restyle, {"preset": "anime-cel", "resolution": "720p"}),
        "generate": (ops.KLING_BRIDGE_OT_generate, {"prompt": "fog over a lake",
                                                   "reference": "FRAME", "frame": 20}),
        "multishot": (ops.KLING_BRIDGE_OT_multishot, {}),
    }
    scene.frame_current = 20
    for name, (cls, values) in dialogs.items():
        drawn[name + "_first"] = standin.draw(cls.draw, standin.Holder(standin.Layout(), cls,
                                                                       **values))
        drain_until(lambda: not any(v[0] == "pending"
                                    for v in sub("service").RUNTIME.estimates.values()), 30)
        drawn[name] = standin.draw(cls.draw, standin.Holder(standin.Layout(), cls, **values))
    drawn["restyle_empty"] = standin.draw(
        ops.KLING_BRIDGE_OT_restyle.draw,
        standin.Holder(standin.Layout(), ops.KLING_BRIDGE_OT_restyle))
    other = bpy.data.scenes["Edit 2997"]
    compat.set_sequencer_scene(other, bpy.context)
    pair = [s for s in editor_strips(other) if s.name in ("dialogue", "face")]
    if len(pair) == 2:
        for s in editor_strips(other):
            s.select = s in pair
        cls = ops.KLING_BRIDGE_OT_lipsync
        standin.draw(cls.draw, standin.Holder(standin.Layout(), cls))
        drain_until(lambda: not any(v[0] == "pending"
                                    for v in sub("service").RUNTIME.estimates.values()), 30)
        drawn["lipsync"] = standin.draw(cls.draw, standin.Holder(standin.Layout(), cls))
    service = sub("service")
    service.fetch_presets()
    drain_until(lambda: bool(service.RUNTIME.presets), 30)
    presets = service.RUNTIME.presets or []
    facts["presets"] = [p["id"] for p in presets]
    facts["preset_search"] = [i[0] for i in ops.preset_search(None, bpy.context, "noir")]
    facts["drawn"] = drawn


def add_realtime(scene, path: Path, channel: int, frame: int):
    """A movie strip the way the UI adds one (Adjust Playback Rate on: real-time playback,
    a flag the data API never sets) -- the operator, in a Sequencer area made for it."""
    compat = sub("compat")
    window = bpy.context.window_manager.windows[0]
    area = max(window.screen.areas, key=lambda a: a.width * a.height)
    old = area.type
    area.type = "SEQUENCE_EDITOR"
    compat.set_sequencer_scene(scene, bpy.context)
    try:
        with bpy.context.temp_override(window=window, area=area):
            bpy.ops.sequencer.movie_strip_add(filepath=str(path), frame_start=frame,
                                              channel=channel, adjust_playback_rate=True,
                                              use_framerate=False, sound=False)
    finally:
        area.type = old
    (strip,) = [s for s in editor_strips(scene) if s.channel == channel]
    strip.name = "pal realtime"
    return strip


@step("mixed_rates")
def mixed_rates(media: Path) -> None:
    """A 25 fps movie in a 24 fps scene, twice: added by the data API (Blender plays it
    frame for frame) and by the UI's operator (real time)."""
    api = sys.modules["kling_bridge_vse"]
    scene = new_scene("Edit 24", 24, 1.0)
    one = editor_strips(scene).new_movie(name="pal frames", filepath=str(media / "shot 25.mov"),
                                         channel=1, frame_start=1)
    one.frame_offset_start = 3
    one.frame_final_duration = 60
    facts["source_24"] = strip_facts(one)
    realtime = add_realtime(scene, media / "shot 25.mov", 2, 200)
    facts["realtime_24"] = strip_facts(realtime)
    answer = api.restyle([one, realtime], scene=scene, preset="film-noir", resolution="720p")
    facts["restyle_24"] = {"skipped": answer["skipped"],
                           "specs": [j["spec"] for j in answer["jobs"]]}


@step("cancel")
def cancel_job() -> None:
    """A long job cancelled from the job list's button while it renders."""
    api = sys.modules["kling_bridge_vse"]
    scene = bpy.data.scenes["Edit 24"]
    sub("compat").set_sequencer_scene(scene, bpy.context)
    prompt = f"a slow pan over a city at night, Blender {bpy.app.version_string}"  # not cached
    answer = api.generate(prompt, frame=400, scene=scene, duration=15, resolution="720p",
                          audio=False)
    job_id, batch_id = answer["jobs"][0]["id"], answer["batch_id"]
    sent = time.time()
    result = bpy.ops.kling_bridge.cancel(job_id=job_id)

    def state():
        record = next(b for b in api.jobs(scene=scene)["batches"] if b["id"] == batch_id)
        return record["jobs"][job_id]["state"], record["state"]

    drain_until(lambda: state()[0] == "cancelled", 60)
    client = sub("service").runtime().client()
    facts["cancel"] = {
        "op": sorted(result), "record": state(), "daemon": client.job(job_id)["state"],
        "seconds": round(time.time() - sent, 2),
        "strips": [s.name for s in sub("host").with_job(scene, job_id)],
        "watched": batch_id in sub("service").RUNTIME.watching(),
        "drawn": standin.draw(sub("ui").KLING_BRIDGE_PT_jobs.draw,
                              standin.Holder(standin.Layout())),
    }


@step("save_reload")
def save_reload(work: Path) -> None:
    path = work / "edit.blend"
    facts["saved"] = {name: scene_facts(bpy.data.scenes[name])
                      for name in ("Edit 25", "Edit 2997")}
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    facts["reloaded"] = {name: scene_facts(bpy.data.scenes[name])
                         for name in ("Edit 25", "Edit 2997")}


@step("pending_job")
def pending_job(work: Path) -> None:
    """One more generation, saved while it runs; then the 'user' quits."""
    api = sys.modules["kling_bridge_vse"]
    scene = bpy.data.scenes["Edit 25"]
    prompt = f"a paper boat in a gutter, Blender {bpy.app.version_string}"  # not cached
    answer = api.generate(prompt, frame=500, scene=scene, duration=3,
                          resolution="720p", audio=False)
    facts["pending_batch"] = answer["batch_id"]
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.save_userpref()  # the extension stays enabled, online access on


@step("lost_answer")
def lost_answer() -> None:
    """The daemon makes the batch, the answer never comes back (a proxy between Blender and
    the daemon drops it); the file is saved, Blender quits (``reopen`` goes on)."""
    from lossy_proxy import LossyProxy, lose_first

    api = sys.modules["kling_bridge_vse"]
    runtime = sub("service").RUNTIME
    real = runtime.client(start=False)
    proxy = LossyProxy(int(real.url.rsplit(":", 1)[1]), lose_first("/v1/generate"))
    runtime._client = sub("client").BridgeClient(f"http://127.0.0.1:{proxy.port}",
                                                 real.token)
    scene = bpy.data.scenes["Edit 25"]
    prompt = f"a kite over a beach, Blender {bpy.app.version_string}"  # not cached
    try:
        api.generate(prompt, frame=700, scene=scene, duration=3, resolution="720p",
                     audio=False)
        facts["lost_error"] = None
    except api.BridgeError as exc:
        facts["lost_error"] = str(exc)
    finally:
        runtime._client = real
        proxy.close()
    (dropped,) = [x for x in proxy.log if x.dropped]
    facts["lost_batch"] = dropped.answer["batch_id"]
    facts["lost_key"] = dropped.body["idempotency_key"]
    facts["lost_record"] = [b for b in api.jobs(scene=scene)["batches"]
                            if b.get("key") == facts["lost_key"]]
    bpy.ops.wm.save_mainfile()


@step("unregister")
def unregister_all() -> None:
    runtime = sub("service").RUNTIME
    bpy.ops.preferences.addon_disable(module=MODULE)
    facts["final"] = snapshot()
    facts["final"]["old_timer"] = bpy.app.timers.is_registered(runtime.tick)
    facts["final"]["old_thread"] = runtime.thread_alive()


# ---------------------------------------------------------------------- other phases


@step("reopen")
def reopen(work: Path) -> None:
    enable_saved()
    facts["reopen_enabled"] = MODULE in bpy.context.preferences.addons
    facts["reopen_online"] = bool(bpy.app.online_access)
    bpy.ops.wm.open_mainfile(filepath=str(work / "edit.blend"))
    facts["reopened"] = scene_facts(bpy.data.scenes["Edit 25"])
    facts["reopen_jobs"] = sys.modules["kling_bridge_vse"].jobs(scene=bpy.data.scenes["Edit 25"])
    bpy.ops.preferences.addon_disable(module=MODULE)


README = HERE.parents[1] / "plugins" / "blender_vse" / "README.md"


def readme_script() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Scripting (headless)"):]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@step("headless")
def headless(work: Path, media: Path) -> None:
    """``blender --background edit.blend --online-mode --python restyle.py`` through the bpy
    module: the README's script, run as ``__main__`` on the opened file."""
    import runpy

    empty_file()
    enable_saved()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    scene.render.resolution_x, scene.render.resolution_y = 320, 180
    strips = sub("compat").strip_collection(scene.sequence_editor_create())
    strips.new_movie(name="shot 1", filepath=str(media / "shot 25.mov"), channel=1,
                     frame_start=1).frame_final_duration = 50
    strips.new_movie(name="shot 2", filepath=str(media / "shot 2997.mov"), channel=1,
                     frame_start=51)  # another rate: frame for frame, from the data API
    blend = work / "headless.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    script = work / "restyle.py"
    script.write_text(readme_script(), encoding="utf-8")
    bpy.ops.wm.open_mainfile(filepath=str(blend))  # what the command line's file does
    argv = sys.argv
    sys.argv = ["blender", "--background", str(blend), "--online-mode", "--python",
                str(script)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    bpy.ops.wm.open_mainfile(filepath=str(blend))  # what the script saved
    facts["headless"] = scene_facts(bpy.context.scene)
    facts["headless_jobs"] = sys.modules["kling_bridge_vse"].jobs(scene=bpy.context.scene)
    bpy.ops.preferences.addon_disable(module=MODULE)


@step("chains")
def chains_phase(work: Path, media: Path, zip_path: str) -> None:
    """Both models together, through the operators (worker + drain) and the scripting API,
    in a 25 fps scene: compare three looks of one strip, apply the one picked to another
    strip, more like this of a restyled strip, next shot of a plain strip, generate then
    restyle; every new dialog drawn; saved and reloaded."""
    empty_file()
    enable_saved()
    bpy.context.preferences.system.use_online_access = True
    if MODULE not in bpy.context.preferences.addons:  # run alone: no saved preferences
        install(zip_path)
    api = sys.modules["kling_bridge_vse"]
    compat, ops = sub("compat"), sub("chain_operators")
    record = sub("host").read_record
    scene = new_scene("Chains 25", 25, 1.0)
    strips = editor_strips(scene)
    first = strips.new_movie(name="shot a", filepath=str(media / "shot 25.mov"), channel=1,
                             frame_start=1)
    first.frame_final_duration = 40
    second = strips.new_movie(name="shot b", filepath=str(media / "shot 25.mov"), channel=1,
                              frame_start=-9)
    second.frame_offset_start = 50  # frames 50-89 of the same file, at 41
    second.frame_final_duration = 40
    facts["chain_sources"] = [strip_facts(first), strip_facts(second)]

    def select(*chosen, active=None):
        for s in editor_strips(scene):
            s.select = s in chosen
        scene.sequence_editor.active_strip = active or chosen[0]

    def sent(count):
        return drain_until(lambda: len([b for b in record(scene)["batches"]
                                         if b.get("id")]) >= count, 60)

    # compare three looks of shot a (operator), wait, the picture comes with the results
    select(first)
    looks = "film-noir, anime-cel, watercolor"
    facts["compare_op"] = sorted(bpy.ops.kling_bridge.compare_looks(
        "EXEC_DEFAULT", looks=looks, resolution="720p"))
    facts["compare_sent"] = sent(1)
    api.wait(scene=scene, timeout=300, interval=0.2)
    comparison = api.comparison(scene=scene)
    facts["comparison"] = comparison
    facts["comparison_image"] = (
        list(bpy.data.images[comparison["image"]].size) if comparison else None)
    facts["after_compare"] = scene_facts(scene)

    # apply the second look to the rest: shot b plus that look's strip, made active
    anime = next(s for s in editor_strips(scene) if s.get("kling_preset") == "anime-cel")
    select(second, anime, active=anime)
    facts["apply_op"] = sorted(bpy.ops.kling_bridge.apply_look("EXEC_DEFAULT"))
    facts["apply_sent"] = sent(2)
    # its result lands first: the channels below are known
    api.wait(scene=scene, timeout=300, interval=0.2)
    # more like this of the anime result (API), next shot of shot b (operator)
    facts["more_answer"] = api.more_like_this(anime, "rooftops at dusk", scene=scene,
                                              duration=3, resolution="720p")["jobs"][0]
    select(second)
    facts["next_op"] = sorted(bpy.ops.kling_bridge.next_shot(
        "EXEC_DEFAULT", prompt="she turns and walks away", duration=3, resolution="720p"))
    facts["next_sent"] = sent(4)
    facts["then_op"] = sorted(bpy.ops.kling_bridge.generate_then_restyle(
        "EXEC_DEFAULT", prompt="a harbour at dawn", preset="film-noir", duration=3,
        resolution="720p", frame=200))
    facts["then_sent"] = sent(5)
    api.wait(scene=scene, timeout=300, interval=0.2)
    facts["chain_jobs"] = api.jobs(scene=scene)
    facts["chain_strips"] = scene_facts(scene)
    client = sub("service").runtime().client()
    facts["chain_specs"] = {}
    for batch in facts["chain_jobs"]["batches"]:
        answer = client.batch(batch["id"])
        facts["chain_specs"][batch["label"]] = {
            "jobs": [{"id": j["id"], "kind": j["kind"], "spec": j["spec"],
                      "video": (j.get("result") or {}).get("outputs", [{}])[0].get("path")}
                     for j in answer["jobs"]],
            "chains": answer.get("chains", [])}

    # every new dialog and the panel drawn (background mode: the stand-in layout)
    compat.set_sequencer_scene(scene, bpy.context)
    select(second, anime, active=anime)
    drawn: dict[str, list[str]] = {}
    dialogs: dict[str, tuple[Any, dict[str, Any]]] = {
        "more_like_this": (ops.KLING_BRIDGE_OT_more_like_this, {"prompt": "rooftops"}),
        "next_shot": (ops.KLING_BRIDGE_OT_next_shot, {"prompt": "she walks away"}),
        "compare_looks": (ops.KLING_BRIDGE_OT_compare_looks, {"looks": looks}),
        "apply_look": (ops.KLING_BRIDGE_OT_apply_look, {"column": 2}),
        "generate_then_restyle": (ops.KLING_BRIDGE_OT_generate_then_restyle,
                                  {"prompt": "fog", "preset": "watercolor"}),
    }
    for name, (cls, values) in dialogs.items():
        standin.draw(cls.draw, standin.Holder(standin.Layout(), cls, **values))
        drain_until(lambda: not any(v[0] == "pending"
                                    for v in sub("service").RUNTIME.estimates.values()), 30)
        drawn[name] = standin.draw(cls.draw, standin.Holder(standin.Layout(), cls, **values))
    ui = sub("ui")
    drawn["panel"] = standin.draw(ui.KLING_BRIDGE_PT_panel.draw, standin.Holder(standin.Layout()))
    drawn["jobs"] = standin.draw(ui.KLING_BRIDGE_PT_jobs.draw, standin.Holder(standin.Layout()))
    for _menu, fn in ui.MENUS:
        drawn[fn.__name__] = standin.draw(fn, standin.Holder(standin.Layout()))
    facts["chain_drawn"] = drawn

    blend = work / "chains.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    facts["chain_reloaded"] = {"comparison": api.comparison(scene=bpy.data.scenes["Chains 25"]),
                               "strips": scene_facts(bpy.data.scenes["Chains 25"])}
    bpy.ops.preferences.addon_disable(module=MODULE)


def empty_file() -> None:
    """A phase that follows another in the same Blender starts, like a Blender started for
    it, from a file with nothing in it: not from the file the phase before left open."""
    bpy.ops.wm.read_homefile(use_empty=True)


def enable_saved() -> None:
    # A real Blender reads the user's preferences at start; the bpy module starts from the
    # factory ones, so read them as Blender would: the extension comes back enabled. (The
    # 4.2 module crashes in read_userpref: there, enable what the saved preferences hold.)
    if bpy.app.version >= (4, 5, 0):
        bpy.ops.wm.read_userpref()
    else:
        bpy.context.preferences.system.use_online_access = True
        bpy.ops.preferences.addon_enable(module=MODULE)


@step("autostart")
def autostart(exe: str) -> None:
    bpy.context.preferences.system.use_online_access = True
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.daemon_path = "/nowhere/kling-bridge"
    prefs.auto_start = True
    api = sys.modules["kling_bridge_vse"]
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = "/usr/bin:/bin"
    try:
        api.generate("x", frame=1, dry_run=True)
    except api.BridgeError as exc:
        facts["not_installed"] = {"code": exc.code, "text": str(exc)}
    finally:
        os.environ["PATH"] = old_path
    prefs.daemon_path = exe
    answer = api.generate("a lighthouse at night", frame=1, dry_run=True)
    facts["autostart_answer"] = {"draft": answer["draft"], "dry_run": answer["dry_run"]}
    facts["autostart_pids"] = sub("connection").started_pids()
    bpy.ops.preferences.addon_disable(module=MODULE)


PHASES = ("main", "reopen", "headless", "chains", "autostart")


def run_phase(phase: str, args: argparse.Namespace) -> None:
    if phase == "main":
        steps = [lambda: install(args.zip), reregister, offline,
                 lambda: scene_25(args.media), lambda: scene_2997(args.media), multishot,
                 lambda: lipsync(args.media), lambda: mixed_rates(args.media), cancel_job,
                 wait_all, swap, timer_and_undo, draw_all,
                 lambda: save_reload(args.work), lambda: pending_job(args.work),
                 lost_answer, unregister_all]
        for run in steps[:int(os.environ.get("KB_SCENARIO_STEPS", len(steps)))]:
            run()
    elif phase == "reopen":
        reopen(args.work)
    elif phase == "headless":
        headless(args.work, args.media)
    elif phase == "chains":
        chains_phase(args.work, args.media, args.zip)
    else:
        if MODULE not in bpy.context.preferences.addons:
            install(args.zip)
        autostart(args.exe)


def main() -> None:
    """One or more phases, one after the other in this Blender; each phase's facts go to
    ``--out``/PHASE.json, written as soon as it ends."""
    global facts
    parser = argparse.ArgumentParser()
    parser.add_argument("phases", nargs="+", choices=PHASES)
    parser.add_argument("--zip", default="")
    parser.add_argument("--media", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="a folder")
    parser.add_argument("--exe", default="")
    args = parser.parse_args()
    for phase in args.phases:
        facts = {"errors": {}, "version": list(bpy.app.version),
                 "version_string": bpy.app.version_string}
        started = time.time()
        try:
            run_phase(phase, args)
        finally:
            facts["seconds"] = round(time.time() - started, 2)
            (args.out / f"{phase}.json").write_text(json.dumps(facts, indent=1, default=str))


if __name__ == "__main__":
    # A crash inside Blender (seen once: exit -11 under heavy load in the main phase) then
    # leaves the Python stack of every thread in the log run_blender shows.
    faulthandler.enable(all_threads=True)
    main()
