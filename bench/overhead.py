"""What the bridge adds on top of Kling's own processing time.

N concurrent restyle jobs go through the daemon's own parts, all in this process: the job
engine, the real MediaPipeline (fit, extract, conform, pictures), KlingProvider, the
signed-link media host and the Kling emulator. The emulator records when each create
request arrived and when its task finished (Kling's own time, its checks of the input
included); the bench records when each job was submitted and when the engine had it
finished, and times the transfers (the emulator fetching the input clip, the bridge
downloading the result) and the local media work. Then:

    overhead = (job wall time - Kling's time - transfers - local media work) / Kling's time

Local media work (the pipeline's prepare/finish: cutting the fitted input, conforming the
24 fps result back to the source, the before/after sheet) is timed and shown on its own
line: it is CPU work the user would do anyway, and on a shared 2-core machine it dominates
short emulated tasks. Transfers depend on the user's link; they are shown on their own too.

The overhead is split into its phases so a regression points at its cause: before the
create reaches Kling (dispatch, validate's ffprobe, publishing the clip, the request), the
lag between Kling finishing and the poller noticing, and after that (state writes, cache).

Goal: <= 2 %. Usage: ``python bench/overhead.py [--jobs 8] [--processing 60] [--poll MIN
MAX]``. Polling defaults to 0.05-0.2 s, so the figure is the bridge's own work; ``--poll
1.5 30`` uses the daemon's default intervals and shows what noticing a finished task late adds.
Prints a table and a JSON line; exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "daemon")]


class Clock:
    """Per-job spans and marks, keyed by job id (or by task external id, mapped later)."""

    def __init__(self) -> None:
        self.spans: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.marks: dict[str, dict[str, float]] = defaultdict(dict)

    def add(self, key: str, what: str, seconds: float) -> None:
        self.spans[key][what] += seconds

    def mark(self, key: str, what: str) -> None:
        self.marks[key].setdefault(what, time.time())

    def timed(self, fn: Any, what: str, key_of: Any) -> Any:
        async def wrapper(*args: Any) -> Any:
            t = time.time()
            try:
                return await fn(*args)
            finally:
                self.add(key_of(*args), what, time.time() - t)

        return wrapper


async def run(jobs: int, processing: float, submitted: float,
              poll: tuple[float, float] = (0.05, 0.2)) -> dict[str, Any]:
    from tests.kling_emulator import Account, KlingEmulator
    from tests.providers.conftest import CREDENTIALS
    from tests.providers.kling_engine import build_engine

    from kling_bridge.hosting import SignedLinkHost
    from kling_bridge.hosting.signed import job_hash
    from kling_bridge.jobs import model as m
    from kling_bridge.jobs.engine import NewJob
    from kling_bridge.specs import Look, RestyleSpec, SourceRange

    home = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    os.environ["KLING_BRIDGE_HOME"] = str(home)
    clip = home / "clip.mp4"
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=1280x720:rate=25:duration=4", "-f", "lavfi", "-i",
                    "sine=duration=4", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)], check=True)

    clock = Clock()
    emu = KlingEmulator([Account(concurrency=jobs)], submitted_seconds=submitted,
                        processing_seconds=processing, output_height=180)
    await emu.start()
    real_get = emu.get_input

    async def timed_get(ref: str, what: str, url_only: bool):  # type: ignore[no-untyped-def]
        t = time.time()
        try:
            return await real_get(ref, what, url_only)
        finally:
            if ref.startswith("http"):  # /m/<job hash>/<token>/<name>
                clock.add(urlparse(ref).path.split("/")[2], "input_fetch", time.time() - t)

    emu.get_input = timed_get  # type: ignore[method-assign]
    host = SignedLinkHost(home / "hosted", home / "key", listen_port=0)
    engine, provider = build_engine(emu.base_url, CREDENTIALS["new"], host, home / "scratch")
    engine.poll_intervals = {"kling": poll}
    engine.settings.queue.concurrency["kling"] = jobs  # all N in flight, as the account allows

    # jobs/<job id>/fetched/<file>: the download's job
    provider.fetch = clock.timed(provider.fetch, "download",  # type: ignore[method-assign]
                                 lambda _out, dest: dest.parent.parent.name)
    host.publish = clock.timed(host.publish, "publish",  # type: ignore[method-assign]
                               lambda _path, key: key)
    real_submit = provider.submit

    async def marking_submit(request, key):  # type: ignore[no-untyped-def]
        clock.mark(key, "submit_start")
        return await real_submit(request, key)

    provider.submit = marking_submit  # type: ignore[method-assign]
    real_validate = provider.validate

    def timed_validate(request):  # type: ignore[no-untyped-def]
        t = time.time()
        try:
            return real_validate(request)
        finally:
            clock.add(str(request.video), "validate", time.time() - t)

    provider.validate = timed_validate  # type: ignore[method-assign]
    real_poll = provider.poll

    async def marking_poll(task_ids):  # type: ignore[no-untyped-def]
        statuses = await real_poll(task_ids)
        for status in statuses.values():
            if status.done:
                clock.mark(status.task_id, "seen_done")
        return statuses

    provider.poll = marking_poll  # type: ignore[method-assign]
    pipeline = engine.pipeline
    real_prepare = pipeline.prepare

    async def timed_prepare(ctx):  # type: ignore[no-untyped-def]
        clock.mark(ctx.job_id, "prepare_start")
        t = time.time()
        try:
            return await real_prepare(ctx)
        finally:
            clock.add(ctx.job_id, "prepare", time.time() - t)
            clock.mark(ctx.job_id, "prepare_end")

    pipeline.prepare = timed_prepare  # type: ignore[method-assign]
    pipeline.finish = clock.timed(pipeline.finish, "finish",  # type: ignore[method-assign]
                                  lambda ctx, _fetched: ctx.job_id)

    await engine.start()
    specs = [NewJob(RestyleSpec(SourceRange(str(clip), 0, 100, "25"),
                                Look("anime-cel", f"variant {i}"),
                                resolution="720p", variant=i)) for i in range(jobs)]
    # The end of each job is taken from the engine's own events (published as each state is
    # committed), so the bench adds no polling of its own to the event loop it measures.
    ends: dict[str, float] = {}
    terminal = {str(s) for s in m.TERMINAL}
    events = engine.events.subscribe()
    t0 = time.time()
    _, created = await engine.submit(m.JobKind.RESTYLE, specs, provider="kling")
    async for event in events:
        if event.type == "job" and event.data["state"] in terminal:
            if event.data["state"] != str(m.JobState.SUCCEEDED):
                raise SystemExit(f"job {event.data['id']} ended {event.data['state']}: "
                                 f"{event.data['error']}")
            ends.setdefault(event.data["id"], time.time())
            if len(ends) == len(created):
                break
    await events.aclose()
    wall = max(ends.values()) - t0

    tasks = {t.external_id: t for t in emu.tasks.values()}
    rows: list[dict[str, float]] = []
    for job in created:
        final = engine.store.get(job.id)
        assert final is not None
        (jt,) = final.tasks
        task = tasks[jt.external_id]
        done = task.finished_at()
        assert done is not None
        spans = clock.spans[job.id]
        fetch_in = clock.spans[job_hash(jt.external_id)]["input_fetch"]
        kling = done - task.received - fetch_in  # its own checks and processing
        transfer = spans["download"] + fetch_in
        media = spans["prepare"] + spans["finish"]
        seen = clock.marks[jt.provider_task_id or ""]["seen_done"]
        validate = sum(v["validate"] for k, v in clock.spans.items() if job.id in k)
        row = {
            "kling": kling, "transfer": transfer, "media": media,
            "overhead": (ends[job.id] - t0) - kling - transfer - media,
            "before_create": task.received - t0 - spans["prepare"],
            "validate": validate,
            "publish": clock.spans[jt.external_id]["publish"],
            "send": task.received - clock.marks[jt.external_id]["submit_start"],
            "to_prepare": clock.marks[job.id]["prepare_start"] - t0,
            "prepared_to_submit": (clock.marks[jt.external_id]["submit_start"]
                                   - clock.marks[job.id]["prepare_end"] - validate),
            "poll_lag": seen - done,
            "after_seen": ends[job.id] - seen - spans["download"] - spans["finish"],
        }
        row["ratio"] = row["overhead"] / kling
        rows.append(row)
    finished = [t.finished_at() or 0.0 for t in tasks.values()]
    span = max(finished) - min(t.received for t in tasks.values())
    await engine.stop()
    await provider.aclose()
    await emu.stop()

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 3)

    return {
        "jobs": jobs,
        "poll_interval_s": list(poll),
        "wall_s": round(wall, 3),
        "kling_span_s": round(span, 3),
        "kling_median_s": med("kling"),
        "transfer_median_s": med("transfer"),
        "media_work_median_s": med("media"),
        "overhead_median_s": med("overhead"),
        "overhead_median_pct": round(100 * statistics.median(r["ratio"] for r in rows), 2),
        "overhead_max_pct": round(100 * max(r["ratio"] for r in rows), 2),
        "before_create_median_s": med("before_create"),
        "validate_median_s": med("validate"),
        "publish_median_s": med("publish"),
        "send_median_s": med("send"),
        "to_prepare_median_s": med("to_prepare"),
        "prepared_to_submit_median_s": med("prepared_to_submit"),
        "poll_lag_median_s": med("poll_lag"),
        "after_seen_median_s": med("after_seen"),
        "polls": sum(p.polls for p in engine._pollers.values()),
        "emulator_queries": emu.stats.queries,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=8)
    p.add_argument("--processing", type=float, default=60.0,
                   help="seconds the emulated Kling spends per task (live O3 edits: 5-15 min)")
    p.add_argument("--submitted", type=float, default=1.0)
    p.add_argument("--poll", type=float, nargs=2, default=(0.05, 0.2), metavar=("MIN", "MAX"),
                   help="the poller's interval range in seconds (the daemon's defaults are "
                   "kling.poll_min_seconds/poll_max_seconds: 1.5 30)")
    args = p.parse_args()
    r = asyncio.run(run(args.jobs, args.processing, args.submitted, tuple(args.poll)))
    print(f"{r['jobs']} concurrent restyles; emulated Kling processing "
          f"{r['kling_median_s']:.2f} s each (span {r['kling_span_s']:.2f} s); "
          f"polling every {r['poll_interval_s'][0]:g}-{r['poll_interval_s'][1]:g} s")
    print(f"  bridge wall time for the batch   {r['wall_s']:.2f} s")
    print(f"  transfers per job (median)       {r['transfer_median_s']:.3f} s")
    print(f"  local media work per job (median: fit, cut, conform, pictures) "
          f"{r['media_work_median_s']:.3f} s")
    print(f"  bridge overhead per job (median) {r['overhead_median_s']:.3f} s = "
          f"{r['overhead_median_pct']:.2f} % (max {r['overhead_max_pct']:.2f} %)")
    print(f"    before the create reaches Kling {r['before_create_median_s']:.3f} s "
          f"(validate {r['validate_median_s']:.3f} s; submit until Kling has the request "
          f"{r['send_median_s']:.3f} s, of which publish {r['publish_median_s']:.3f} s)")
    print(f"      submitted -> prepare starts {r['to_prepare_median_s']:.3f} s; prepared -> "
          f"submit (excl. validate) {r['prepared_to_submit_median_s']:.3f} s")
    print(f"    Kling done -> poller sees it    {r['poll_lag_median_s']:.3f} s")
    print(f"    after that (excl. download, finish) {r['after_seen_median_s']:.3f} s")
    print("  goal: bridge overhead <= 2 % of Kling's processing (plus transfers)")
    print(f"  status queries: {r['emulator_queries']} for {r['polls']} poll rounds")
    print(json.dumps({"bench": "overhead", **r}))


if __name__ == "__main__":
    main()
