"""Benchmark of the watch folder: how soon a stable file becomes a queued job, and how fast
1,000 small drop-ins go through.

Everything real but the provider: a real watchdog observer on a real folder, the watch
service, the daemon's submit path and job engine (in this process), the durable fake
provider (tests/fakes) and the pass-through pipeline (no media work to time here).

* latency: files dropped one at a time; for each, the time from it *becoming stable* (its
  last write + the stability window) to its job being queued in the engine. Goal: < 1 s.
  Baseline, same run: a bare watchdog observer on another folder, the time from a file's
  write to its first event -- what noticing a file costs at all on this machine.
* throughput: 1,000 prompt files written at once; time from the first write until every
  job is queued, and until every item is done (result in out/, source in processed/).
  Baseline: the bare observer noticing the same 1,000 files.

The machine is shared and noisy: figures are printed with their baseline and the ratio.
Usage: ``python bench/watch.py [--files 1000] [--latency-files 30] [--window 0.5]``. Prints
a table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "daemon")]

from watchdog.events import FileSystemEvent, FileSystemEventHandler  # noqa: E402
from watchdog.observers import Observer  # noqa: E402


class FirstSeen(FileSystemEventHandler):
    """The bare baseline: remember when each path raised its first event."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.expect = 0

    def on_any_event(self, event: FileSystemEvent) -> None:
        now = time.monotonic()
        with self.lock:
            self.seen.setdefault(str(event.src_path), now)
            if self.expect and len(self.seen) >= self.expect:
                self.done.set()


def write(path: Path, text: str) -> float:
    with path.open("w") as fh:
        fh.write(text)
    return time.monotonic()


def baseline(folder: Path, files: int, one_at_a_time: bool) -> dict[str, float]:
    folder.mkdir(parents=True)
    handler = FirstSeen()
    observer = Observer()
    observer.schedule(handler, str(folder), recursive=True)
    observer.start()
    try:
        if one_at_a_time:
            lags = []
            for n in range(files):
                path = folder / f"b{n}.txt"
                wrote = write(path, f"baseline {n}")
                deadline = time.monotonic() + 5
                while str(path) not in handler.seen and time.monotonic() < deadline:
                    time.sleep(0.0005)
                lags.append(handler.seen[str(path)] - wrote)
            return {"median_s": statistics.median(lags), "max_s": max(lags)}
        handler.expect = files
        start = time.monotonic()
        for n in range(files):
            write(folder / f"t{n:04d}.txt", f"baseline {n}")
        handler.done.wait(60)
        return {"all_seen_s": max(handler.seen.values()) - start}
    finally:
        observer.stop()
        observer.join()


async def environment(home: Path, window: float) -> Any:
    from tests.fakes.pipeline import PassthroughPipeline
    from tests.fakes.provider import FakeProvider

    from kling_bridge.api.security import new_token
    from kling_bridge.api.state import Services
    from kling_bridge.config import Paths, load_settings
    from kling_bridge.credentials import KlingCredential, describe
    from kling_bridge.jobs.engine import Engine
    from kling_bridge.jobs.store import JobStore
    from kling_bridge.watch.bridge import InProcessBridge
    from kling_bridge.watch.ledger import Ledger
    from kling_bridge.watch.service import WatchService

    os.environ["KLING_BRIDGE_HOME"] = str(home)
    paths = Paths.resolve().ensure()
    settings = load_settings(paths)
    settings.provider = "fake"  # type: ignore[assignment]
    settings.queue.concurrency["fake"] = 32
    engine = Engine(store=JobStore(paths.database),
                    providers={"fake": FakeProvider(home / "provider", paid=False)},
                    pipeline=PassthroughPipeline(), settings=settings, paths=paths,
                    poll_intervals={"fake": (0.05, 0.2)})
    services = Services(engine=engine, settings=settings, paths=paths, token=new_token(),
                        credentials=describe(KlingCredential()), presets=lambda: [])
    await engine.start()
    ledger = Ledger(paths.data_dir / "watch.sqlite3")
    watch = WatchService(home / "watch", InProcessBridge(services), ledger,
                         stable_seconds=window, rescan_seconds=30, poll_seconds=0.2,
                         concurrency=32)
    await watch.start()
    return engine, ledger, watch


async def ours(home: Path, window: float, latency_files: int, files: int) -> dict[str, Any]:
    engine, ledger, watch = await environment(home, window)
    inbox = watch.root / "generate"
    try:
        lags = []
        for n in range(latency_files):
            rel = f"generate/l{n}.txt"
            wrote = await asyncio.to_thread(write, inbox / f"l{n}.txt", f"latency take {n}")
            while rel not in watch.stats.queued_at:
                await asyncio.sleep(0.001)
            lags.append(watch.stats.queued_at[rel] - (wrote + window))
        await watch.wait_idle(timeout=120)
        start = time.monotonic()

        def drop() -> float:
            for n in range(files):
                write(inbox / f"t{n:04d}.txt", f"throughput take {n}")
            return time.monotonic()

        last_write = await asyncio.to_thread(drop)
        base_done = watch.stats.done
        while watch.stats.queued < latency_files + files:
            await asyncio.sleep(0.01)
        queued = max(watch.stats.queued_at[f"generate/t{n:04d}.txt"] for n in range(files))
        while watch.stats.done < base_done + files:
            await asyncio.sleep(0.01)
        done = time.monotonic()
        return {
            "latency_median_s": statistics.median(lags), "latency_max_s": max(lags),
            "drop_s": last_write - start, "all_queued_s": queued - start,
            "all_done_s": done - start, "failed": watch.stats.failed,
        }
    finally:
        await watch.stop()
        await engine.stop()
        engine.store.close()
        ledger.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--latency-files", type=int, default=30)
    ap.add_argument("--window", type=float, default=0.5, help="stability window, seconds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-bench-watch-") as tmp:
        root = Path(tmp)
        base_lat = baseline(root / "base-latency", args.latency_files, True)
        base_tp = baseline(root / "base-throughput", args.files, False)
        result = asyncio.run(ours(root / "home", args.window, args.latency_files, args.files))
    qps = args.files / result["all_queued_s"]
    dps = args.files / result["all_done_s"]
    bps = args.files / base_tp["all_seen_s"]
    rows = [
        ("stable -> queued, median", f"{result['latency_median_s'] * 1000:.1f} ms",
         f"{base_lat['median_s'] * 1000:.2f} ms",
         f"{result['latency_median_s'] / base_lat['median_s']:.0f}x"),
        ("stable -> queued, max", f"{result['latency_max_s'] * 1000:.1f} ms",
         f"{base_lat['max_s'] * 1000:.2f} ms", ""),
        (f"{args.files} drops: all queued", f"{result['all_queued_s']:.2f} s ({qps:.0f}/s)",
         f"{base_tp['all_seen_s']:.2f} s ({bps:.0f}/s)", f"{bps / qps:.1f}x slower"),
        (f"{args.files} drops: all done", f"{result['all_done_s']:.2f} s ({dps:.0f}/s)", "", ""),
    ]
    print(f"watch folder bench (stability window {args.window} s; baseline: bare watchdog "
          "noticing the same files)")
    print(f"{'':34} {'watch folder':>22} {'baseline':>18} {'ratio':>12}")
    for name, a, b, r in rows:
        print(f"{name:34} {a:>22} {b:>18} {r:>12}")
    goal = result["latency_max_s"] < 1.0
    print(f"goal (< 1 s from stable to queued): {'met' if goal else 'MISSED'}; "
          f"failed items: {result['failed']}")
    print(json.dumps({"window_s": args.window, **result, "baseline_latency": base_lat,
                      "baseline_throughput": base_tp, "queued_per_s": qps,
                      "done_per_s": dps, "baseline_per_s": bps}))


if __name__ == "__main__":
    main()
