"""Scripting entry point: the Sequencer actions without the UI, for headless use.

From ``blender --background file.blend --python script.py`` or the ``bpy`` module, once
the extension is enabled (``import kling_bridge_vse as kb`` -- an alias the extension sets
when it registers, whatever repository it was installed in)::

    import bpy, kling_bridge_vse as kb
    scene = bpy.context.scene
    kb.restyle([scene.sequence_editor.strips["shot 1"]], preset="film-noir")
    kb.generate("rain on a tin roof, close up", frame=120, duration=5)
    kb.wait()                          # until every job of the scene ended; results applied
    bpy.ops.wm.save_mainfile()

Every call talks to the daemon synchronously (fine in a script: there is no UI to
freeze), starting ``kling-bridge serve`` when none runs. Online access must be on:
``blender --online-mode``, or in the bpy module
``bpy.context.preferences.system.use_online_access = True``.

Jobs are remembered in the scene, so a script may also quit and a later one -- or the
editor opening the file -- applies the results (:func:`apply_finished`).
"""

from typing import Any, Dict, List

import bpy

from . import chains, compat, host, placement, records, service
from .client import BridgeError

__all__ = [
    "BridgeError",
    "apply_finished",
    "apply_look",
    "cancel",
    "compare_looks",
    "comparison",
    "drain",
    "estimate",
    "generate",
    "jobs",
    "lipsync",
    "more_like_this",
    "multishot",
    "next_shot",
    "restyle",
    "wait",
]


def _scene(scene):
    return scene or compat.sequencer_scene(bpy.context)


def restyle(strips=None, scene=None, preset="", prompt="", resolution="1080p", variants=1,
            handles=12, dry_run=False) -> Dict[str, Any]:
    """Restyle ``strips`` (default: the selected ones); returns the daemon's answer
    (``batch_id``, ``jobs``, ``estimate``, ``skipped``). ``dry_run``: price only."""
    service.require_online()
    scene = _scene(scene)
    strips = host.selected(scene) if strips is None else list(strips)
    body, sources, skipped = service.restyle_request(scene, strips, preset, prompt,
                                                     resolution, variants, handles, dry_run)
    if not sources:
        raise BridgeError("empty_selection", "no strip can be restyled: " + "; ".join(
            "%s: %s" % s for s in skipped) if skipped else "no strip given or selected", "")
    answer = service.send_now(scene, "/restyle", body, "restyle",
                              preset or (prompt or "")[:40], sources=sources)
    answer.setdefault("skipped", [])
    answer["skipped"] = list(answer["skipped"]) + [{"name": n, "reason": r}
                                                   for n, r in skipped]
    return answer


def generate(prompt="", frame=None, scene=None, duration=5, aspect="", resolution="1080p",
             audio=True, image="", use_current_frame=False, dry_run=False,
             then="") -> Dict[str, Any]:
    """Generate a clip placed at ``frame`` (default: the playhead) on the first free channel,
    conformed to the scene's rate and size; ``image``: a first-frame still, or
    ``use_current_frame`` for the picture under the playhead; ``then``: a preset the clip
    is restyled in before it is placed (only the restyled clip lands)."""
    service.require_online()
    scene = _scene(scene)
    body = service.generate_request(scene, prompt, frame, duration, aspect, resolution, audio,
                                    image, use_current_frame, dry_run=dry_run,
                                    then=[{"preset": then}] if then else None)
    where = {"frame": scene.frame_current if frame is None else int(frame), "above": 0}
    return service.send_now(scene, "/generate", body, "generate", prompt[:40] or "B-roll",
                            placement_info=where)


def multishot(markers=None, scene=None, last_seconds=3, resolution="1080p", audio=True,
              dry_run=False) -> Dict[str, Any]:
    """One multi-shot clip from markers (default: the selected ones): each marker's name is
    a shot's words, the clip starts at the first marker."""
    service.require_online()
    scene = _scene(scene)
    pairs = [(m.frame, m.name) for m in markers] if markers is not None else \
        host.selected_markers(scene)
    if not pairs:
        raise BridgeError("no_markers", "select the markers whose names are the shots", "")
    shots, _notes = placement.shots_from_markers(pairs, host.scene_rate(scene), last_seconds)
    first = min(f for f, _ in pairs)
    body = service.generate_request(scene, shots[0]["prompt"], first, resolution=resolution,
                                    audio=audio, shots=shots, dry_run=dry_run)
    return service.send_now(scene, "/generate", body, "generate",
                            "multi-shot · " + shots[0]["prompt"][:30],
                            placement_info={"frame": first, "above": 0})


def lipsync(sound, face, scene=None, resolution="1080p", dry_run=False) -> Dict[str, Any]:
    """Lip-sync the face in ``face`` (movie or image strip) to the ``sound`` strip; the result
    lands at the sound's start above the face."""
    service.require_online()
    scene = _scene(scene)
    body = service.lipsync_request(scene, sound, face, resolution, dry_run)
    start = compat.timing(sound)[0]
    return service.send_now(scene, "/lipsync", body, "lipsync", "lip-sync · " + sound.name,
                            placement_info={"frame": start, "above": face.channel})


def more_like_this(strip, prompt="", scene=None, duration=5, resolution="1080p",
                   dry_run=False) -> Dict[str, Any]:
    """New footage in the look of ``strip`` -- a restyled result follows its job (its look's
    words and the result itself), any other movie strip its own frames -- placed right
    after it, silent."""
    return _follow(strip, "style", prompt, scene, duration, resolution, dry_run)


def next_shot(strip, prompt, scene=None, duration=5, resolution="1080p",
              dry_run=False) -> Dict[str, Any]:
    """The shot that follows ``strip`` (what ``prompt`` says happens next), right after it."""
    return _follow(strip, "next_shot", prompt, scene, duration, resolution, dry_run)


def _follow(strip, mode, prompt, scene, duration, resolution, dry_run) -> Dict[str, Any]:
    service.require_online()
    scene = _scene(scene)
    if dry_run:
        body, _where = chains.follow_request(scene, strip, mode, prompt, duration, resolution,
                                             dry_run=True)
        return service.runtime().client(start=True).post("/generate", body)
    return chains.follow(scene, strip, mode, prompt, duration, resolution, now=True)


def compare_looks(strip, looks, scene=None, resolution="1080p") -> Dict[str, Any]:
    """``strip`` restyled in every preset of ``looks`` (results stacked above it); once they
    have finished (:func:`wait`), :func:`comparison` has the picture and its columns."""
    service.require_online()
    return chains.compare(_scene(scene), strip, list(looks), resolution, now=True)


def comparison(scene=None) -> Any:
    """The last comparison of the scene: ``{"path", "image", "columns": [{"index", "look",
    "job_id"}]}`` (None before one finished)."""
    return chains.last_comparison(_scene(scene))


def apply_look(strips=None, scene=None, job_id="", column=0, to="rest") -> Dict[str, Any]:
    """The look of a restyle job -- ``job_id``, a ``column`` of the last comparison, or the
    restyled strip among ``strips`` (default: the selected ones) -- on the other strips."""
    service.require_online()
    scene = _scene(scene)
    strips = host.selected(scene) if strips is None else list(strips)
    job, reference = chains.look_job(scene, strips, column, job_id)
    return chains.apply_look(scene, strips, job, to, now=True, reference=reference)


def estimate(kind, **kwargs) -> str:
    """The price line a dialog shows ("draft, free" or the units), for a restyle/generate."""
    answer = (restyle if kind == "restyle" else generate)(dry_run=True, **kwargs)
    return placement.price_text(answer)


def apply_finished(scene=None) -> List[str]:
    """Ask the daemon once about the scene's unfinished jobs; apply those that finished.
    Returns the new strips' names."""
    service.require_online()
    return service.poll_now(_scene(scene), wait=False)


def wait(scene=None, timeout=None, interval=0.5) -> List[str]:
    """Block until every job of the scene has ended, applying results as they come."""
    service.require_online()
    return service.poll_now(_scene(scene), wait=True, timeout=timeout, interval=interval)


def cancel(job_id, scene=None) -> Dict[str, Any]:
    """Cancel a job in the daemon (tasks Kling already started stay paid); the scene's
    record shows it cancelled. Returns the daemon's answer for the job."""
    service.require_online()
    return service.cancel_now(_scene(scene), job_id)


def jobs(scene=None) -> Dict[str, Any]:
    """The scene's job record (batches, jobs, states, prices, applied strips)."""
    return host.read_record(_scene(scene))


def pending(scene=None) -> List[str]:
    return records.pending(host.read_record(_scene(scene)))


def drain(wait=0.0) -> int:
    """Run the main-thread work the add-on's worker left (what the timer does in the UI)."""
    return service.runtime().drain(wait)
