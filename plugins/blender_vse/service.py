"""What the actions do, shared by the operators and the scripting API (main thread).

Each action reads the scene (via :mod:`.host`), builds the daemon request (via the pure
modules and :mod:`.request_bodies`), records it in the scene with an idempotency key, sends
it (on the worker thread, or at once for scripts), turns the record into the batch the
daemon answers, and -- when the batch's jobs finish -- puts the results on the timeline
(:mod:`.strip_results`). A submission whose answer never came is sent again with its key
(:func:`resend`): the daemon answers the batch it made the first time, so nothing is made
or paid twice.
"""

import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

import bpy

from . import compat, host, placement, records
from .client import BridgeError
from .otio_export import rate_text
from .request_bodies import (  # noqa: F401 (the operators and the API use them from here)
    conform_of, generate_request, lipsync_pair, lipsync_request, restyle_request)
from .strip_results import apply_job, swap  # noqa: F401 (swap: the operators use it here)

RUNTIME = None  # the Runtime, set by register()


def runtime():
    if RUNTIME is None:
        raise BridgeError("not_registered", "the Kling Bridge add-on is not enabled",
                          "enable it in Preferences > Add-ons")
    return RUNTIME


def require_online() -> None:
    online, forced = compat.online_access()
    if online:
        return
    if forced:
        raise BridgeError("offline", "Blender was started with --offline-mode: Kling Bridge "
                          "cannot reach its daemon", "start Blender without --offline-mode")
    raise BridgeError("offline", "online access is off: Kling Bridge needs it to reach its "
                      "local daemon (which sends clips to Kling)",
                      "turn on Preferences > System > Network > Allow Online Access "
                      "(or start Blender with --online-mode)")


# ---------------------------------------------------------------------- sending


#: Endpoints that take an ``idempotency_key`` (the daemon's lip-sync does not, yet).
KEYED = ("/restyle", "/generate")


def new_key() -> str:
    return "blender:" + uuid.uuid4().hex


def remember(scene, answer, kind, label, sources=None, placement_info=None,
             key="") -> Dict[str, Any]:
    data = host.read_record(scene)
    record = records.add_batch(data, answer, kind, label, rate_text(host.scene_rate(scene)),
                               sources, placement_info, key=key)
    host.write_record(scene, data)
    memory_add(scene, data)
    watch(record["id"])
    return record


def begin(scene, path, body, kind, label, sources=None, placement_info=None) -> str:
    """Record a submission in the scene before it is sent; its idempotency key."""
    key = new_key()
    data = host.read_record(scene)
    records.add_pending(data, key, path, body, kind, label, rate_text(host.scene_rate(scene)),
                        sources, placement_info)
    host.write_record(scene, data)
    memory_add(scene, data)
    return key


def forget(scene, key) -> None:
    """The daemon refused the submission: it made nothing, so nothing is remembered."""
    data = host.read_record(scene)
    records.drop(data, key)
    host.write_record(scene, data)
    memory_add(scene, data)


def answer_lost(error) -> bool:
    """No answer, or a failure on the daemon's side: the batch may exist; ask again later.
    A 4xx is a refusal: nothing was made."""
    return error.status is None or error.status >= 500


def lost(error) -> BridgeError:
    return BridgeError(error.code, "no answer to the request (%s); it is remembered in the "
                       "file and asked again with the same key, so nothing is made or paid "
                       "twice" % error.message,
                       "Check Jobs Now (or kb.apply_finished()) once the daemon answers",
                       error.status)


def _settle(scene_name, key, kind, label, sources, placement_info):
    """on_done for a keyed POST: the record becomes the batch, or is dropped on a refusal."""
    def done(answer, error):
        scene = bpy.data.scenes.get(scene_name)
        if scene is None:
            return error
        if error is None and answer.get("batch_id"):
            remember(scene, answer, kind, label, sources, placement_info, key)
        elif error is not None and not answer_lost(error):
            forget(scene, key)
        elif error is not None:
            return lost(error)
        return error
    return done


_MEMORY = {}  # scene name -> record data: what the undo system must not take back


def memory_add(scene, data) -> None:
    _MEMORY[scene.name] = records.load(records.dump(data))


def restore_after_undo() -> None:
    """Jobs sent are facts: put back batches an undo removed from a scene's record."""
    for scene in bpy.data.scenes:
        remembered = _MEMORY.get(scene.name)
        if remembered is None:
            continue
        data = host.read_record(scene)
        if records.merge(data, remembered):
            host.write_record(scene, data)
            for batch_id in records.pending(data):
                watch(batch_id)


def send(scene, path, body, kind, label, sources=None, placement_info=None,
         on_sent: Optional[Callable[[Any, Any], None]] = None) -> None:
    """Record ``body`` in the scene, POST it on the worker with its idempotency key, and
    turn the record into the batch on the main thread when the daemon answers."""
    if path not in KEYED or body.get("dry_run"):
        scene_name = scene.name

        def plain(answer, error):
            target = bpy.data.scenes.get(scene_name)
            if error is None and answer.get("batch_id") and target is not None:
                remember(target, answer, kind, label, sources, placement_info)
            if on_sent is not None:
                on_sent(answer, error)

        runtime().submit(lambda client: client.post(path, body), plain)
        return
    key = begin(scene, path, body, kind, label, sources, placement_info)
    settle = _settle(scene.name, key, kind, label, sources, placement_info)
    keyed = dict(body, idempotency_key=key)

    def done(answer, error):
        error = settle(answer, error)
        if on_sent is not None:
            on_sent(answer, error)

    runtime().submit(lambda client: client.post(path, keyed), done)


def send_now(scene, path, body, kind, label, sources=None, placement_info=None):
    """The same, synchronously (scripts, background mode): returns the daemon's answer."""
    client = runtime().client(start=True)
    if path not in KEYED or body.get("dry_run"):
        answer = client.post(path, body)
        if answer.get("batch_id"):
            remember(scene, answer, kind, label, sources, placement_info)
        return answer
    key = begin(scene, path, body, kind, label, sources, placement_info)
    try:
        answer = client.post(path, dict(body, idempotency_key=key))
    except BridgeError as exc:
        if not answer_lost(exc):
            forget(scene, key)
            raise
        raise lost(exc) from None
    remember(scene, answer, kind, label, sources, placement_info, key)
    return answer


def resend(scene, wait=True) -> int:
    """Send again, each with its own key, the submissions of ``scene`` whose answer never
    came (``wait``: now, on this thread; else on the worker). How many were asked."""
    data = host.read_record(scene)
    unsent = records.unsent(data)
    for record in unsent:
        request = record.get("request") or {}
        path, body = request.get("path", ""), dict(request.get("body") or {})
        body["idempotency_key"] = record["key"]
        key, kind, label = record["key"], record["kind"], record["label"]
        sources, where = record.get("sources"), record.get("placement")
        if not wait:
            runtime().submit(lambda client, p=path, b=body: client.post(p, b),
                             _settle(scene.name, key, kind, label, sources, where))
            continue
        try:
            answer = runtime().client(start=False).post(path, body)
        except BridgeError as exc:
            if answer_lost(exc):
                raise lost(exc) from None
            forget(scene, key)
            print("kling-bridge: the daemon refused %r sent earlier: %s" % (label, exc))
            continue
        remember(scene, answer, kind, label, sources, where, key)
    return len(unsent)


def estimate_async(key, path, body) -> Tuple[str, str]:
    """The price of ``body`` for a dialog: ("ok", text) | ("pending", "") | ("error", msg)."""
    rt = runtime()
    known = rt.estimates.get(key)
    if known is not None:
        return known
    rt.estimates[key] = ("pending", "")
    dry = dict(body, dry_run=True)

    def done(answer, error):
        if error is not None:
            rt.estimates[key] = ("error", str(error))
        else:
            text = placement.price_text(answer)
            extra = ["%s: %s" % (s["name"], s["reason"]) for s in answer.get("skipped", [])]
            rt.estimates[key] = ("ok", text + ("" if not extra else " -- left out: "
                                               + "; ".join(extra)))
        host.tag_redraw()

    rt.submit(lambda client: client.post(path, dry), done)
    return rt.estimates[key]


def fetch_presets() -> None:
    rt = runtime()
    if rt.presets is not None:
        return
    rt.presets = []

    def done(presets, error):
        rt.presets = presets if error is None else []
        if error is not None:
            rt.status = str(error)
        host.tag_redraw()

    rt.submit(lambda client: client.presets(), done)


# ---------------------------------------------------------------------- results


def watch(batch_id) -> None:
    runtime().watch(batch_id, lambda status, error: on_status(batch_id, status, error))


def on_status(batch_id, status, error) -> None:
    """A batch answer from the worker: update the record, apply what finished."""
    if error is not None:
        runtime().status = str(error)
        return
    scene = host.scene_of_batch(batch_id)
    if scene is None:
        runtime().unwatch(batch_id)
        return
    apply_status(scene, status)
    host.tag_redraw()


def apply_status(scene, status, now=False) -> List[str]:
    """Fold a batch answer into ``scene``'s record and apply its finished jobs; returns the
    names of the new strips. Idempotent: a job with a strip already is not applied twice.
    A finished Compare Looks batch then asks for its picture (``now``: on this thread)."""
    from . import chains

    data = host.read_record(scene)
    todo = records.update(data, status)
    record = records.find(data, status["batch_id"])
    if record is not None and (record.get("placement") or {}).get("compare") \
            and record.get("state") not in records.ENDED:
        todo = []  # a comparison lands whole, stacked in the order of its looks
    made = []
    for job in todo:
        spec = job.get("spec") or {}
        if record["kind"] != "restyle" and not (spec.get("placement") or spec.get("clip")):
            # a chain's generated clip: it fed its restyle, which is what lands
            records.mark_applied(data, record["id"], job["id"], [], "fed the next link")
            continue
        existing = host.with_job(scene, job["id"])
        if existing:
            records.mark_applied(data, record["id"], job["id"], [s.name for s in existing])
            continue
        try:
            names, note = apply_job(scene, record, job)
        except (BridgeError, ValueError, RuntimeError) as exc:
            names, note = [], "not applied: %s" % exc
            record["jobs"][job["id"]]["skip_apply"] = True
        records.mark_applied(data, record["id"], job["id"], names, note)
        made.extend(names)
    picture = record is not None and chains.wants_picture(record)
    if picture:
        record["comparison_asked"] = True
    host.write_record(scene, data)
    memory_add(scene, data)
    if picture:
        chains.ask_picture(scene, dict(record), now=now)
    if record is not None and not records.needs_polling(record) and RUNTIME is not None:
        RUNTIME.unwatch(record["id"])
    return made


def poll_now(scene, wait=False, timeout=None, interval=0.5) -> List[str]:
    """Ask the daemon about every unfinished batch of ``scene`` (synchronously) and apply
    what finished; ``wait``: until none is running. For scripts and background mode."""
    import time

    resend(scene)
    client = runtime().client(start=False)
    deadline = None if timeout is None else time.time() + timeout
    made = []  # type: List[str]
    while True:
        data = host.read_record(scene)
        for batch_id in records.pending(data):
            made.extend(apply_status(scene, client.batch(batch_id), now=True))
        data = host.read_record(scene)
        running = [b for b in data["batches"] if b.get("state") not in records.ENDED]
        if not wait or not running:
            return made
        if deadline is not None and time.time() > deadline:
            raise BridgeError("timeout", "%d batch(es) still running after %ss"
                              % (len(running), timeout), "they go on in the daemon")
        time.sleep(interval)


def cancel(job_id, on_done=None) -> None:
    runtime().submit(lambda client: client.cancel(job_id),
                     on_done or (lambda result, error: None))


def cancel_now(scene, job_id) -> Dict[str, Any]:
    """Cancel a job synchronously and fold its batch's new state into the record."""
    client = runtime().client(start=False)
    job = client.cancel(job_id)
    if job.get("batch_id"):
        apply_status(scene, client.batch(job["batch_id"]), now=True)
    return job


def resume_all() -> int:
    """Watch every unfinished batch of every scene (after a file is opened), and ask again
    for submissions whose answer never came (on the worker; in background mode the
    synchronous :func:`poll_now` does that)."""
    count = 0
    for scene in host.scenes_with_record():
        data = host.read_record(scene)
        memory_add(scene, data)
        for batch_id in records.pending(data):
            watch(batch_id)
            count += 1
        if bpy.app.background:
            count += len(records.unsent(data))  # poll_now sends them, synchronously
        else:
            count += resend(scene, wait=False)
    return count
