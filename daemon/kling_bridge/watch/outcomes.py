"""What becomes of a dropped item once its work has ended -- or could not start: results
into ``out/``, the source into ``processed/`` or ``failed/`` with its error file, the ledger
row closed. Also re-drops of finished work (no new job; results put back if they went).

Split from :mod:`.service`, which notices and submits; both share one :class:`Outcomes` per
folder. Result names are planned before anything is written and reserved until written,
so drops finishing at the same moment never choose the same name.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from .bridge import Bridge, Refused, Unavailable
from .comparisons import lay_out_apply_look, with_picture
from .items import Item, Kind, classify, is_bundle
from .layout import APPLY_LOOK, COMPARE, SETTINGS_FILE, Layout, Route, route_of
from .ledger import Entry, Ledger
from .mover import error_text, move_new, split_name, write_error
from .results import Plan, plan_from_json, plan_results, publish
from .scan import companions_of, is_image
from .settings import Effective

log = logging.getLogger("kling_bridge.watch")
_T = TypeVar("_T")


@dataclass
class Stats:
    """Counters of this run (tests and the bench read them; ``status`` reads the disk)."""

    queued: int = 0
    done: int = 0
    failed: int = 0
    redropped: int = 0
    queued_at: dict[str, float] = field(default_factory=dict)  # rel path -> when queued


class Outcomes:
    """The endings of one watch folder's items (see the module docstring)."""

    def __init__(self, layout: Layout, ledger: Ledger, bridge: Bridge,
                 io: Callable[..., Awaitable[Any]], emit: Callable[[str, str], None],
                 settings_at: Callable[[PurePosixPath], Effective]) -> None:
        self.layout = layout
        self.root = layout.root
        self.folder = str(layout.root)
        self.ledger = ledger
        self.bridge = bridge
        self._io = io
        self._emit = emit
        self._settings_at = settings_at
        self.stats = Stats()
        self._reserved: set[str] = set()  # result names planned in out/, not yet written

    async def finish(self, key: str, batch: dict[str, Any] | None) -> None:
        entry = self.ledger.get(key)
        if entry is None:
            return
        rel = PurePosixPath(entry.rel)
        route = route_of(rel)
        assert isinstance(route, Route)
        kind = classify(route, rel.name, is_bundle(rel.name))
        settings = self._settings_at(rel)
        if batch is None:
            batch = {"jobs": [], "state": "failed"}
        plan = plan_results(kind, rel.name, batch, self._taken,
                            settings.format if kind is Kind.TIMELINE else None,
                            None if route.kind == APPLY_LOOK else route.look)
        if route.kind == COMPARE and plan.outputs and batch.get("batch_id"):
            plan = await self._with_picture(plan, rel, str(batch["batch_id"]))
        self._reserved.update(_tops(plan))  # until written: no other drop may plan them
        verdict = "processed" if not plan.failures and plan.outputs else "failed"
        message = _failure_text(plan, batch)
        self.ledger.update(key, state="finishing", outputs=plan.to_json(), verdict=verdict,
                           message=message)
        await self.complete(entry, plan, batch, verdict, message)

    async def _with_picture(self, plan: Plan, rel: PurePosixPath, batch_id: str) -> Plan:
        """A comparison's plan with its picture (a picture that cannot be made is a note in
        the log, never a lost result: the looks themselves are in out/)."""
        try:
            answer = await self.bridge.compare(batch_id)
        except (Refused, Unavailable) as exc:
            log.warning("watch %s: no comparison picture for %s (%s)", self.root, rel, exc)
            return plan
        stem, _ = split_name(rel.name)
        return with_picture(plan, stem, batch_id, answer, self._taken)

    def _taken(self, name: str) -> bool:
        """A name in out/ that is in use, or planned for results being written now."""
        return name.split("/", 1)[0] in self._reserved or (self.layout.out / name).exists()

    async def complete(self, entry: Entry, plan: Plan, batch: Mapping[str, Any] | None,
                       verdict: str, message: str) -> None:
        work = Path(entry.work)
        rel = PurePosixPath(entry.rel)
        is_timeline = plan.timeline is not None
        written: list[Path] = []
        try:
            written = await self._io(
                publish, plan, self.layout.out, work if is_timeline and work.exists() else None,
                batch)
        except Exception as exc:  # a result timeline that cannot be written, a full disk...
            log.exception("watch %s: publishing %s", self.root, rel)
            verdict = "failed"
            message = message_of(f"the results could not all be written to out/: {exc}",
                                 "free some space or fix what the message names, then drop "
                                 "it in again (finished work is not paid again)", message)
        finally:
            self._reserved.difference_update(_tops(plan))
        if route_of(rel) == Route(COMPARE) and batch is not None and plan.outputs:
            written += await self._io(lay_out_apply_look, self.layout, rel, batch)
        dest = await self._io(self._move_out, entry, work, rel, verdict, message)
        self.ledger.update(entry.key, state="done" if verdict == "processed" else "failed",
                           work=str(dest or ""), verdict=verdict, message=message)
        names = ", ".join(str(p.relative_to(self.root)) for p in written) or "nothing"
        if verdict == "processed":
            self.stats.done += 1
            self._emit("done", f"{rel} -> {names}")
        else:
            self.stats.failed += 1
            self._emit("failed", f"{rel}: {message.splitlines()[0] if message else 'failed'}"
                       + (f" (results: {names})" if written else ""))

    def _move_out(self, entry: Entry, work: Path, rel: PurePosixPath, verdict: str,
                  message: str) -> Path | None:
        if not work.exists():
            return None  # moved already (a crash came after the move)
        base = self.layout.processed if verdict == "processed" else self.layout.failed
        folder = base / rel.parent
        companions = companions_of(work) if is_image(work) else []
        name = versioned_pair(folder, rel.name, [c.suffix for c in companions])
        dest = move_new(work, folder, name)
        for companion in companions:
            move_new(companion, folder, PurePosixPath(dest.name).stem + companion.suffix)
        if verdict != "processed":
            problem, hint, details = parse_message(message)
            write_error(dest, error_text(rel.name, problem, hint, str(rel.parent) + "/",
                                         details))
        return dest

    # ------------------------------------------------------------------ re-drops, failures

    async def redrop(self, item: Item, entry: Entry, settings: Effective) -> None:
        """The same work was done before: no new job; its results put back if they went."""
        plan = plan_from_json(entry.outputs)
        same_folder = entry.folder == self.folder
        present = same_folder and plan.outputs and all(
            (self.layout.out / o.name).exists() for o in plan.outputs)
        written: list[Path] = []
        if not present:
            batch = await self.bridge.batch(entry.batch_id) if entry.batch_id else None
            out = self.layout.out
            fresh = plan_results(item.kind, item.rel.name, batch or {"jobs": []},
                                 self._taken,
                                 settings.format if item.kind is Kind.TIMELINE else None,
                                 item.route.look)
            if not fresh.outputs or not all(Path(o.source).exists() for o in fresh.outputs):
                await self.fail_unclaimed(
                    item.path, "this exact file was done before with these settings, but its "
                    "results are gone (from out/ and from the bridge's data folder)",
                    "to make new ones, change a setting for it in a "
                    f"{SETTINGS_FILE} (e.g. variants = 2, or drop it into another look): the "
                    "same file with the same settings is never made, or paid for, twice")
                return
            self._reserved.update(_tops(fresh))
            try:
                written = await self._io(
                    publish, fresh, out, item.path if item.kind is Kind.TIMELINE else None,
                    batch)
            finally:
                self._reserved.difference_update(_tops(fresh))
        dest = await self._io(self._move_redrop, item)
        self.stats.redropped += 1
        where = ", ".join(str(p.relative_to(self.root)) for p in written) or ", ".join(
            f"out/{o.name}" for o in plan.outputs)
        self._emit("already done", f"{item.rel}: done before (batch {entry.batch_id}); "
                   f"results: {where}; source kept in {dest.relative_to(self.root)}")

    def _move_redrop(self, item: Item) -> Path:
        folder = self.layout.processed / item.rel.parent
        name = versioned_pair(folder, item.path.name, [c.suffix for c in item.companions])
        dest = move_new(item.path, folder, name)
        for companion in item.companions:
            move_new(companion, folder, PurePosixPath(dest.name).stem + companion.suffix)
        return dest

    async def fail_unclaimed(self, path: Path, problem: str, hint: str,
                             details: str = "") -> None:
        """Refuse an item before any work: straight from its inbox to failed/."""
        if not path.exists():
            return
        rel = self.layout.rel(path)
        companions = companions_of(path) if is_image(path) else []

        def move() -> Path:
            folder = self.layout.failed / rel.parent
            name = versioned_pair(folder, path.name, [c.suffix for c in companions])
            dest = move_new(path, folder, name)
            for companion in companions:
                move_new(companion, folder, PurePosixPath(dest.name).stem + companion.suffix)
            write_error(dest, error_text(path.name, problem, hint, str(rel.parent) + "/",
                                         details))
            return dest

        await self._io(move)
        self.stats.failed += 1
        self._emit("failed", f"{rel}: {problem}")

    async def fail_claimed(self, entry: Entry, item: Item, problem: str, hint: str) -> None:
        message = message_of(problem, hint)
        self.ledger.update(entry.key, state="finishing", verdict="failed", message=message)
        fresh = self.ledger.get(entry.key)
        assert fresh is not None
        await self.complete(fresh, Plan((), None, None, ()), None, "failed", message)


def _tops(plan: Plan) -> set[str]:
    """The entries a plan adds directly in out/ (a timeline's media folder counts once)."""
    return {name.split("/", 1)[0] for name in plan.names()}


def nth_name(name: str, n: int) -> str:
    """``clip.mov`` -> ``clip-2.mov`` (n = 2)."""
    p = PurePosixPath(name)
    return f"{p.stem}-{n}{p.suffix}" if p.suffix else f"{name}-{n}"


def versioned_pair(folder: Path, name: str, companion_suffixes: list[str]) -> str:
    """A free name for a file and its same-named companions together."""
    stem = PurePosixPath(name).stem
    n = 1
    while True:
        cand = name if n == 1 else nth_name(name, n)
        cstem = stem if n == 1 else f"{stem}-{n}"
        if not (folder / cand).exists() and not any(
                (folder / (cstem + s)).exists() for s in companion_suffixes):
            return cand
        n += 1


def _failure_text(plan: Plan, batch: Mapping[str, Any]) -> str:
    if not plan.failures and plan.outputs:
        return ""
    if not batch.get("jobs"):
        return message_of("the daemon has no record of this work's batch",
                          "drop the file in again to start it anew")
    lines = [f"{f.label}: {f.message}" + (f" ({f.hint})" if f.hint else "")
             for f in plan.failures]
    total = len(plan.failures) + len(plan.outputs)
    if len(lines) == 1 and total == 1:
        only = plan.failures[0]
        return message_of(only.message, only.hint or _RETRY_HINT)
    head = f"{len(plan.failures)} of {total} job(s) did not succeed"
    if plan.outputs:
        head += f" (the other {len(plan.outputs)} are in out/)"
    return message_of(head, _RETRY_HINT, "\n".join(lines))


_RETRY_HINT = ("fix what the message says, then drop the file in again: what already finished "
               "is reused, not paid again ('kling-bridge jobs' shows every job)")


def message_of(problem: str, hint: str = "", details: str = "") -> str:
    """How a failure is kept in the ledger: problem, ``hint:`` line, details."""
    return "\n".join([problem.strip(), *([f"hint: {hint}"] if hint else []),
                      *([details] if details else [])])


def parse_message(message: str) -> tuple[str, str, str]:
    problem, hint, rest = "", "", []
    for n, line in enumerate(message.splitlines()):
        if n == 0:
            problem = line
        elif line.startswith("hint: ") and not hint:
            hint = line[6:]
        else:
            rest.append(line)
    return problem or "it failed", hint, "\n".join(rest)


