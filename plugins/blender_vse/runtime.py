"""Never block Blender: HTTP on one worker thread, Blender edits back on the main thread.

The worker runs requests and polls watched batches; what it learns goes into a queue that
:meth:`Runtime.drain` empties on the main thread, where callbacks may touch ``bpy`` data.
A ``bpy.app.timers`` timer calls ``drain`` while there is work -- but timers never run in
background mode nor in the ``bpy`` module, so ``drain`` (and the scripting API) are also
called directly. The timer is unregistered on ``stop`` and at interpreter exit (a timer
left registered makes Blender 4.2 crash and 4.5 hang on exit).
"""

import atexit
import contextlib
import queue
import threading
import time
import traceback

import bpy

from . import connection
from .client import BridgeError

POLL_SECONDS = 1.0
TICK_SECONDS = 0.25


class Runtime:
    def __init__(self, settings=None):
        self.settings = settings or (lambda: {"path": "", "auto_start": True})
        self.tasks = queue.Queue()
        self.done = queue.Queue()
        self.lock = threading.Lock()
        self.watched = {}  # batch id -> callback(status) on the main thread
        self.status = ""  # the last connection problem, for the panel ("" = fine)
        self.health = None
        self.presets = None  # list from GET /v1/presets, once fetched
        self.estimates = {}  # request key -> ("ok", answer) | ("error", message) | ("pending",)
        self.busy = 0  # requests queued or running
        self._client = None
        self._thread = None
        self._stop = threading.Event()
        self._poll_now = threading.Event()
        # One bound method for the timer: each ``self._tick`` is a new object, and
        # bpy.app.timers knows a function by identity.
        self.tick = self._tick
        atexit.register(self.stop)

    # ------------------------------------------------------------------ worker side

    def client(self, start=False, prefs=None):
        """The daemon's client; starts the daemon when asked. ``prefs`` (path, auto_start)
        are read on the main thread and handed over: the worker never touches bpy."""
        if self._client is not None:
            return self._client
        if start and prefs is None:
            prefs = self.settings()  # main thread: scripts calling directly
        if start:
            client = connection.connect_or_start(prefs.get("path", ""),
                                                 prefs.get("auto_start", True))
        else:
            client = connection.connect()
        self._client = client
        return client

    def forget_client(self):
        self._client = None

    def _run(self):
        last_poll = 0.0
        while not self._stop.is_set():
            try:
                item = self.tasks.get(timeout=0.1)
            except queue.Empty:
                item = None
            if item is not None:
                work, on_done, start, prefs = item
                self._do(work, on_done, start, prefs=prefs)
            due = time.time() - last_poll >= POLL_SECONDS or self._poll_now.is_set()
            with self.lock:
                watched = list(self.watched.items())
            if watched and due:
                self._poll_now.clear()
                last_poll = time.time()
                for batch_id, callback in watched:
                    self._do(lambda c, b=batch_id: c.batch(b), callback, False, poll=True)

    def _do(self, work, on_done, start, poll=False, prefs=None):
        try:
            result = work(self.client(start=start, prefs=prefs))
            error = None
            if self.status:
                self.done.put((self._set_status, "", None))
        except BridgeError as exc:
            result, error = None, exc
            if exc.code in ("unreachable", "not_running"):
                self.forget_client()
            if poll:
                self.done.put((self._set_status, None, exc))
                return
        except Exception as exc:  # a bug must not kill the worker; show it instead
            traceback.print_exc()
            result, error = None, BridgeError("internal", "kling-bridge add-on: %r" % exc)
        finally:
            if not poll:
                with self.lock:
                    self.busy -= 1
        self.done.put((on_done, result, error))

    def _set_status(self, _result, error):
        self.status = "" if error is None else str(error)

    # ------------------------------------------------------------------ main-thread side

    def submit(self, work, on_done, start=True):
        """Run ``work(client)`` on the worker; ``on_done(result, error)`` later on the main
        thread (from the timer, or from :meth:`drain`)."""
        with self.lock:
            self.busy += 1
        self._ensure_thread()
        self.tasks.put((work, on_done, start, self.settings() if start else None))
        self.ensure_timer()

    def watch(self, batch_id, callback):
        with self.lock:
            self.watched[batch_id] = callback
        self._ensure_thread()
        self._poll_now.set()
        self.ensure_timer()

    def unwatch(self, batch_id):
        with self.lock:
            self.watched.pop(batch_id, None)

    def unwatch_all(self):
        with self.lock:
            self.watched.clear()

    def watching(self):
        with self.lock:
            return list(self.watched)

    def drain(self, wait=0.0):
        """Run what the worker finished (main thread). ``wait``: seconds to wait for the first
        item when there is none yet. Returns how many callbacks ran."""
        count = 0
        deadline = time.time() + wait
        while True:
            try:
                timeout = max(0.0, deadline - time.time())
                callback, result, error = self.done.get(timeout=timeout) if (
                    count == 0 and timeout > 0) else self.done.get_nowait()
            except queue.Empty:
                return count
            count += 1
            try:
                callback(result, error)
            except Exception:  # keep draining; a failing apply is reported by its caller
                traceback.print_exc()

    def idle(self):
        with self.lock:
            return self.busy == 0 and not self.watched and self.done.empty()

    def _tick(self):
        self.drain()
        return None if self.idle() else TICK_SECONDS

    def ensure_timer(self):
        if not bpy.app.timers.is_registered(self.tick):
            bpy.app.timers.register(self.tick, first_interval=TICK_SECONDS, persistent=True)

    def _ensure_thread(self):
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="kling-bridge-worker",
                                            daemon=True)
            self._thread.start()

    def stop(self):
        """Unregister the timer and end the worker (unregister, and interpreter exit)."""
        try:
            if bpy.app.timers.is_registered(self.tick):
                bpy.app.timers.unregister(self.tick)
        except (AttributeError, ValueError):
            pass
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def timer_registered(self):
        return bpy.app.timers.is_registered(self.tick)

    def thread_alive(self):
        return self._thread is not None and self._thread.is_alive()
