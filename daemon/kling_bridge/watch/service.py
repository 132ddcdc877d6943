"""The watch-folder service: dropped files in, jobs through the daemon's engine, results out.

One :class:`WatchService` per folder, on the daemon's event loop (or ``kling-bridge
watch``'s). Its life per item:

1. **noticed** -- by the startup scan, a file-system event, or the periodic rescan;
2. **ready** -- its signature has held for the stability window and it opens
   (:mod:`.readiness`, :mod:`.scan`);
3. **keyed** -- content hash + settings fingerprint; the ledger says whether this work is
   new, in flight, or already done (a re-drop or a copy: no new work, results put back);
4. **claimed** -- recorded in the ledger, then moved to ``processing/`` before any work;
5. **submitted** -- the request (:mod:`.requests`) goes through the :mod:`.bridge` with an
   idempotency key; a per-folder budget is checked on a priced dry run first;
6. **finished** -- when the batch ends, outputs are named (the plan is recorded), placed in
   ``out/``, and the source moved to ``processed/`` or ``failed/`` with its error file
   (:mod:`.outcomes`, which also handles re-drops and refusals).

Every step is recorded before the next starts, so a kill at any instant resumes on restart
(:meth:`WatchService.start` recovers ``processing/`` and the ledger) without a second batch,
a second copy, or a lost source.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from ..waiting import wait_event
from .bridge import Bridge, Refused, Unavailable
from .items import Item, Kind
from .layout import Layout, lay_out
from .ledger import IN_FLIGHT, Entry, Ledger, content_digest, ledger_key
from .mounts import is_network_folder
from .mover import move_new
from .observer import Marks, start_observer, stop_observer
from .outcomes import Outcomes, nth_name
from .readiness import Signature, Stability
from .requests import ItemProblem, over_budget, request_for
from .results import plan_from_json
from .scan import (
    companions_of,
    describe,
    examine,
    item_for,
    measure_all,
    read_texts,
    walk_items,
    walk_list,
)
from .settings import Effective, FolderSettings, SettingsFiles, SettingsProblem, fingerprint, merge

log = logging.getLogger("kling_bridge.watch")
_T = TypeVar("_T")


class WatchService:
    def __init__(
        self,
        root: Path,
        bridge: Bridge,
        ledger: Ledger,
        *,
        defaults: FolderSettings | None = None,
        stable_seconds: float = 3.0,
        rescan_seconds: float = 30.0,
        polling: bool | None = None,
        poll_seconds: float = 1.0,
        concurrency: int = 32,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self.root = root.expanduser().resolve()
        self.layout = Layout(self.root)
        self.folder = str(self.root)
        self.bridge = bridge
        self.ledger = ledger
        self.defaults = defaults or FolderSettings()
        self.stable_seconds = stable_seconds
        self.rescan_seconds = rescan_seconds
        self.polling = polling
        self.poll_seconds = poll_seconds
        self.observer_kind = ""
        self.on_event = on_event
        self._stability = Stability(stable_seconds)
        self._settings = SettingsFiles()
        self._sem = asyncio.Semaphore(concurrency)
        self._busy: set[str] = set()
        self._inflight: dict[str, str] = {}  # batch id -> ledger key
        self._dirty_batches: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._presets: list[Mapping[str, Any]] = []
        self._wake = asyncio.Event()
        self._batch_wake = asyncio.Event()
        self._observer: Any = None
        self._marks: Marks | None = None
        self._stopping = False
        self._last_rescan = 0.0
        self._last_beat = 0.0
        self._follows = False
        # Its own threads for file work: the engine's (and providers') calls on the default
        # pool must not queue behind a folder of 1,000 drops, nor the other way round.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-watch")
        self.outcomes = Outcomes(self.layout, ledger, bridge, self._io, self._emit,
                                 self._safe_settings)
        self.stats = self.outcomes.stats

    async def _io(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run blocking file work on the service's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """Lay out the folder, resume what a stop or crash left, then watch. Returns at once."""
        self._presets = list(await self.bridge.presets())
        await self._io(lay_out, self.root, self._presets)
        other = self.ledger.hold(self.folder, self.bridge.mode)
        if other is not None:
            raise RuntimeError(f"{self.root} is already watched by process {other}")
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        self._marks = Marks(wake)
        polling = self.polling
        if polling is None:
            polling = await self._io(is_network_folder, self.folder)
        self._observer, self.observer_kind = await asyncio.to_thread(
            start_observer, self.layout.inboxes(), self._marks, polling=polling,
            poll_interval=min(1.0, max(0.1, self.stable_seconds / 2)))
        changes = self.bridge.changes()
        self._follows = changes is not None
        if changes is not None:  # subscribed before recovery: no job end falls in between
            self._loops.append(asyncio.create_task(self._follow(changes), name="kb-watch-ev"))
            await asyncio.sleep(0)
        await self._recover()
        self._dirty_batches.update(self._inflight)  # recovered: look at each once, now
        await self._rescan()
        self._loops += [
            asyncio.create_task(self._tick_loop(), name=f"kb-watch-{self.root.name}"),
            asyncio.create_task(self._batch_loop(), name="kb-watch-batches")]
        log.info("watching %s (%s, stable after %.2fs)", self.root, self.observer_kind,
                 self.stable_seconds)

    async def stop(self) -> None:
        self._stopping = True
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._observer is not None:
            await asyncio.to_thread(stop_observer, self._observer)
        self._pool.shutdown(wait=True)
        self.ledger.release(self.folder)

    def idle(self) -> bool:
        """Nothing waiting, being taken, in flight or finishing."""
        return not (len(self._stability) or self._busy or self._inflight or self._tasks)

    async def wait_idle(self, timeout: float = 600.0, settle: float = 0.0) -> None:
        """Until :meth:`idle` has held for ``settle`` seconds (for ``--once`` and tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        since: float | None = None
        while loop.time() < deadline:
            if self.idle():
                since = since if since is not None else loop.time()
                if loop.time() - since >= settle:
                    return
            else:
                since = None
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.root}: still busy after {timeout}s")

    def _emit(self, what: str, text: str) -> None:
        log.info("%s: %s", what, text)
        if self.on_event is not None:
            self.on_event(what, text)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ noticing

    async def _tick_loop(self) -> None:
        tick = max(0.02, min(0.25, self.stable_seconds / 4))
        while not self._stopping:
            self._wake.clear()
            try:
                await self._tick()
            except Exception:  # never let one bad look stop the folder
                log.exception("watch %s: tick failed", self.root)
            loop = asyncio.get_running_loop()
            if loop.time() - self._last_rescan >= self.rescan_seconds:
                await self._rescan()
            if loop.time() - self._last_beat >= 15:
                self._last_beat = loop.time()
                self.ledger.beat(self.folder)
            due = self._stability.next_due(time.monotonic())
            wait = tick if due is None else max(0.01, min(tick, due))  # right when one is due
            await wait_event(self._wake, wait)

    async def _rescan(self) -> None:
        """Walk the inboxes: the start-up scan, and the net under dropped events."""
        self._last_rescan = asyncio.get_running_loop().time()
        found = await self._io(walk_list, self.layout)
        now = time.monotonic()
        for path in found:
            key = str(path)
            if key not in self._stability and key not in self._busy:
                self._stability.touch(key, now)
        self._wake.set()

    async def _tick(self) -> None:
        assert self._marks is not None
        marked = self._marks.drain()
        now = time.monotonic()
        if marked:
            scans = []
            for raw in marked:
                item, is_folder = item_for(self.layout, Path(raw))
                if is_folder:
                    scans.append(Path(raw))
                elif item is not None and str(item) not in self._busy:
                    self._stability.touch(str(item), now)
            for folder in scans:  # a folder moved in: its contents raise no events of their own
                for path in await self._io(walk_list, self.layout, folder):
                    if str(path) not in self._busy:
                        self._stability.touch(str(path), now)
        keys = [k for k in self._stability.keys() if k not in self._busy]  # noqa: SIM118
        if not keys:
            return
        sigs = await self._io(measure_all, self.layout, keys)
        now = time.monotonic()
        for key, sig in sigs.items():
            if sig is None:
                self._stability.forget(key)
            else:
                self._stability.observe(key, sig, now)
        for key in self._stability.due(now):
            if key in self._busy:
                continue
            self._busy.add(key)
            self._stability.forget(key)
            self._spawn(self._take(Path(key), sigs.get(key)))

    # ------------------------------------------------------------------ taking an item

    async def _take(self, path: Path, seen: Signature | None) -> None:
        key = str(path)
        try:
            async with self._sem:
                await self._take_item(path, seen)
        except Exception as exc:
            log.exception("watch %s: %s", self.root, path)
            with contextlib.suppress(Exception):
                await self.outcomes.fail_unclaimed(path, f"the bridge hit an error: {exc}",
                                           "this is a bug in kling-bridge; the log has details")
        finally:
            self._busy.discard(key)

    def _settings_for(self, item: Item) -> Effective:
        layers = [self.defaults, *self._settings.chain(self.root, self.root / item.rel.parent)]
        return merge(layers)

    def _safe_settings(self, rel: PurePosixPath) -> Effective:
        """For finishing work already done: a settings file broken since falls back."""
        try:
            return merge([self.defaults, *self._settings.chain(self.root,
                                                                self.root / rel.parent)])
        except SettingsProblem:
            return merge([self.defaults])

    async def _take_item(self, path: Path, seen: Signature | None) -> None:
        found = await self._io(examine, self.layout, path, seen)
        if found.verdict == "wait":
            if path.exists():
                self._stability.touch(str(path), time.monotonic())
            return
        if found.item is None:
            await self.outcomes.fail_unclaimed(path, *found.problem)
            return
        item = found.item
        try:
            settings = self._settings_for(item)
        except SettingsProblem as exc:
            await self.outcomes.fail_unclaimed(path, exc.message, exc.hint, str(exc.path))
            return
        key = ledger_key(found.content, fingerprint(settings, str(item.route.folder)))
        entry = self.ledger.get(key)
        if entry is not None and entry.state in IN_FLIGHT and Path(entry.work).exists():
            # The same work is under way (a copy dropped meanwhile): look again later.
            self._stability.touch(str(path), time.monotonic())
            return
        if entry is not None and entry.state == "done":
            await self.outcomes.redrop(item, entry, settings)
            return
        claimed, work_item = await self._io(self._claim, item, key)
        await self._submit(claimed, work_item, settings)

    def _claim(self, item: Item, key: str) -> tuple[Entry, Item]:
        """Blocking: record the claim, then move the item (and companions) to processing/."""
        folder = self.layout.processing / item.rel.parent
        names = [item.path.name, *(c.name for c in item.companions)]
        n = 1
        while True:  # a free name for the item and its companions together
            cands = names if n == 1 else [nth_name(name, n) for name in names]
            if not any((folder / c).exists() for c in cands):
                break
            n += 1
        work = folder / cands[0]
        entry = self.ledger.claim(key, self.folder, str(item.rel), str(work))
        folder.mkdir(parents=True, exist_ok=True)
        move_new(item.path, folder, work.name)
        for companion in item.companions:
            move_new(companion, folder, work.stem + companion.suffix)
        return entry, Item(work, item.rel, item.route, item.kind,
                            companions_of(work) if item.kind is Kind.IMAGE else [])

    # ------------------------------------------------------------------ submitting

    async def _submit(self, entry: Entry, work_item: Item, settings: Effective) -> None:
        """``work_item``: the claimed item, now in processing/."""
        item = work_item
        try:
            texts = await self._io(read_texts, work_item) if (
                item.companions or item.kind in (Kind.PROMPT, Kind.PROMPT_FILE)) else {}
            names = {p["id"] for p in self._presets}
            request = request_for(item.kind, item.route, item.path, texts, settings, names)
        except ItemProblem as exc:
            await self.outcomes.fail_claimed(entry, work_item, exc.problem, exc.hint)
            return
        body = dict(request.body)
        attempt = 0
        while True:
            try:
                if settings.budget_units is not None:
                    priced = await self.bridge.submit(request.verb, {**body, "dry_run": True})
                    units = float(priced["estimate"]["units"])
                    if units > settings.budget_units:
                        await self.outcomes.fail_claimed(entry, work_item, *over_budget(
                            units, float(priced["estimate"]["usd"]), settings.budget_units))
                        return
                answer = await self.bridge.submit(
                    request.verb, {**body, "idempotency_key": entry.idempotency_key})
                break
            except Refused as exc:
                await self.outcomes.fail_claimed(entry, work_item, exc.message, exc.hint)
                return
            except Unavailable as exc:
                if self._stopping:
                    return
                delay = min(30.0, 0.5 * 2 ** min(attempt, 6))
                attempt += 1
                log.warning("watch %s: daemon unavailable (%s); again in %.0fs", self.root,
                            exc, delay)
                await asyncio.sleep(delay)
        batch_id = str(answer["batch_id"])
        units = float(answer["estimate"]["units"])
        self.ledger.update(entry.key, state="submitted", batch_id=batch_id, estimate=units)
        self._inflight[batch_id] = entry.key
        self.stats.queued += 1
        self.stats.queued_at[str(item.rel)] = time.monotonic()
        if len(self.stats.queued_at) > 20_000:  # a daemon runs for months: keep the recent
            for old in list(self.stats.queued_at)[:10_000]:
                del self.stats.queued_at[old]
        price = "free" if answer.get("draft") or not answer.get("paid") else (
            f"about {units:g} units (US${answer['estimate']['usd']:.2f})")
        self._emit("queued", f"{item.rel}: {len(answer.get('jobs', []))} job(s), {price}, "
                   f"batch {batch_id}")
        self._batch_wake.set()

    # ------------------------------------------------------------------ following batches

    async def _follow(self, changes: Any) -> None:
        async for batch_id in changes:
            if batch_id in self._inflight:
                self._dirty_batches.add(batch_id)
                self._batch_wake.set()

    async def _batch_loop(self) -> None:
        # With job-end events (in the daemon) the sweep is only a net for dropped events.
        sweep_every = max(self.poll_seconds, 0.2) * (10 if self._follows else 1)
        last_sweep = asyncio.get_running_loop().time()
        cursor = 0
        while not self._stopping:
            if not self._dirty_batches:
                await wait_event(self._batch_wake, sweep_every)
            self._batch_wake.clear()
            loop = asyncio.get_running_loop()
            check = set(self._dirty_batches)
            self._dirty_batches.clear()
            if loop.time() - last_sweep >= sweep_every:
                last_sweep = loop.time()
                ids = sorted(self._inflight)
                window = ids[cursor:cursor + 64] or ids[:64]
                cursor = cursor + 64 if cursor + 64 < len(ids) else 0
                check.update(window)
            for batch_id in check:
                key = self._inflight.get(batch_id)
                if key is None:
                    continue
                try:
                    batch = await self.bridge.batch(batch_id)
                except (Unavailable, Refused) as exc:
                    log.warning("watch %s: cannot read batch %s (%s)", self.root, batch_id, exc)
                    continue
                if batch is None or batch.get("state") != "running":
                    del self._inflight[batch_id]
                    self._spawn(self.outcomes.finish(key, batch))

    # ------------------------------------------------------------------ recovery

    async def _recover(self) -> None:
        """Resume what the ledger and processing/ say was under way when we last stopped."""
        known: set[str] = set()
        for entry in self.ledger.in_folder(self.folder, IN_FLIGHT):
            known.add(entry.work)
            work = Path(entry.work)
            if entry.state == "claimed":
                if not work.exists():  # stopped before the move: the inbox still has it
                    self.ledger.update(entry.key, state="failed", message="interrupted")
                    continue
                self._busy.add(str(work))
                self._spawn(self._resume_claimed(entry, work))
            elif entry.state == "submitted" and entry.batch_id:
                self._inflight[entry.batch_id] = entry.key
            elif entry.state == "finishing":
                self._spawn(self._resume_finishing(entry))
        for path in await self._io(self._processing_items):
            if str(path) not in known and str(path) not in self._busy:
                # In processing/ with no ledger row (moved there, then killed): take it again.
                self._busy.add(str(path))
                self._spawn(self._retake(path))

    def _processing_items(self) -> list[Path]:
        """Items sitting in processing/ (it mirrors the inboxes, so it is walked like them)."""
        shadow = Layout(self.layout.processing)
        return [path for top in shadow.inboxes() for path in walk_items(shadow, top)]

    def _unprocessing(self, path: Path) -> PurePosixPath:
        return PurePosixPath(path.relative_to(self.layout.processing).as_posix())

    async def _resume_claimed(self, entry: Entry, work: Path) -> None:
        try:
            rel = PurePosixPath(entry.rel)
            item = describe(work, rel)
            if not isinstance(item, Item):
                return
            settings = self._safe_settings(rel)
            await self._submit(entry, item, settings)
        finally:
            self._busy.discard(str(work))

    async def _resume_finishing(self, entry: Entry) -> None:
        batch = await self.bridge.batch(entry.batch_id) if entry.batch_id else None
        await self.outcomes.complete(entry, plan_from_json(entry.outputs), batch,
                             entry.verdict or "failed", entry.message)

    async def _retake(self, work: Path) -> None:
        """An item found in processing/ without a ledger row: key it and carry on."""
        try:
            rel = self._unprocessing(work)
            item = describe(work, rel)
            if not isinstance(item, Item):
                return
            settings = self._settings_for(item)
            content = await self._io(content_digest, [work, *item.companions])
            key = ledger_key(content, fingerprint(settings, str(item.route.folder)))
            entry = self.ledger.get(key)
            if entry is not None and entry.state == "done":
                await self.outcomes.redrop(item, entry, settings)
                return
            entry = self.ledger.claim(key, self.folder, str(rel), str(work))
            await self._submit(entry, item, settings)
        except Exception:
            log.exception("watch %s: resuming %s", self.root, work)
        finally:
            self._busy.discard(str(work))
