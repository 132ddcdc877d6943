"""Benchmark of the daemon's API: job creation under load, and time to ready after restart.

Run: ``python bench/api.py [--requests 2000] [--clients 20]``. Prints a table and one JSON
line. This machine is shared and noisy, so every figure comes with a baseline measured in
the same run on the same machine:

* creation: 20 concurrent clients POST /v1/generate to the daemon as users run it
  (``kling-bridge serve``: its defaults, the draft provider, real jobs that the engine
  starts rendering with ffmpeg while the load goes on); dry runs (priced, not created) are
  measured too. The baseline is a bare aiohttp app in a subprocess answering the same POST
  with a fixed JSON body -- the floor any aiohttp service has on this machine.
* ready: a store holding 10,000 jobs (most finished, some queued or mid-flight) -> daemon
  start until /v1/health answers; the baseline is the same for an empty store.

Goals on a 2-core machine: >= 500 jobs/s, p99 < 50 ms, ready < 1 s.
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
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kling_bridge.config import Paths  # noqa: E402
from kling_bridge.jobs import model as m  # noqa: E402
from kling_bridge.jobs.store import JobStore  # noqa: E402

BARE_APP = r"""
import sys
from aiohttp import web
async def h(request):
    await request.json()
    return web.json_response({"batch_id": "b0", "jobs": [{"id": "j0", "state": "queued"}]},
                             status=201)
async def health(request):
    return web.json_response({"ok": True})
app = web.Application()
app.router.add_post("/v1/generate", h)
app.router.add_get("/v1/health", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_health(url: str, headers: dict[str, str], timeout: float = 60) -> float:
    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - start < timeout:
            try:
                async with session.get(url + "/v1/health", headers=headers) as r:
                    if r.status == 200:
                        return time.perf_counter() - start
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.005)
    raise RuntimeError("server did not become ready")


async def load(
    url: str, headers: dict[str, str], requests: int, clients: int, rate: float | None = None,
    dry_run: bool = False,
) -> dict[str, float]:
    """``clients`` concurrent clients send ``requests`` POSTs in all.

    ``rate=None``: closed loop, each client sends its next request when the last is answered
    (saturation: the most jobs/s the server takes). ``rate=R``: open loop, R requests/s in all
    on a fixed schedule (latency at a given load, the way a burst of plugin calls arrives).
    """
    latencies: list[float] = []
    per_client = requests // clients
    body = {"prompt": "a lighthouse at dawn, slow push in", "duration": 5, "dry_run": dry_run}
    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=conn) as session:
        start = time.perf_counter()

        async def client(n: int) -> None:
            for i in range(per_client):
                if rate is not None:  # request k of all is due at k / rate
                    due = start + (i * clients + n) / rate
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                t0 = time.perf_counter()
                async with session.post(
                    url + "/v1/generate", json={**body, "prompt": f"{n}-{i}"}, headers=headers
                ) as r:
                    await r.read()
                    if r.status != (200 if dry_run else 201):
                        raise RuntimeError(f"status {r.status}: {await r.text()}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(client(n) for n in range(clients)))
        wall = time.perf_counter() - start
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / wall,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "n": len(latencies),
    }


async def both(
    url: str, headers: dict[str, str], requests: int, clients: int, rate: float
) -> tuple[dict[str, float], dict[str, float]]:
    await load(url, headers, 200, clients)  # warm up
    return (
        await load(url, headers, requests, clients),
        await load(url, headers, requests // 2, clients, rate=rate),
    )


def start_daemon(home: Path, *, fake: bool = False) -> subprocess.Popen[bytes]:
    """``kling-bridge serve`` at its defaults (draft provider), or the durable fake provider
    (``fake``: the start-up measurement, whose store holds fake-provider jobs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env.update({"KLING_BRIDGE_HOME": str(home), "PYTHONPATH": str(ROOT),
                "KLING_BRIDGE_PORT": "0"})
    cmd = ([sys.executable, "-m", "tests.fakes.daemon", str(home / "provider"), "--delay", "0.5"]
           if fake else [str(Path(sys.executable).parent / "kling-bridge"), "serve"])
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def discovery(home: Path, timeout: float = 60) -> dict[str, object]:
    path = Paths.resolve({"KLING_BRIDGE_HOME": str(home)}).discovery_file
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            time.sleep(0.002)
    raise RuntimeError("no discovery file")


def fill_store(home: Path, count: int) -> None:
    """``count`` jobs: 97 % finished, the rest queued, running or mid-download."""
    paths = Paths.resolve({"KLING_BRIDGE_HOME": str(home)}).ensure()
    store = JobStore(paths.database)
    now = time.time()
    jobs = []
    for i in range(count):
        job = m.Job(
            id=m.new_id("j", now + i / 1000),
            batch_id="b" + "0" * 23,
            kind=m.JobKind.GENERATE,
            provider="fake",
            spec={"prompt": f"shot {i}", "duration": 5},
            created_at=now,
            updated_at=now,
            label=f"shot {i}",
        )
        if i % 100 >= 3:
            job = m.Job(**{**job.__dict__, "state": m.JobState.SUCCEEDED, "progress": 1.0})
        jobs.append(job)
    store.create_batch("b" + "0" * 23, "generate", {}, jobs)
    store.close()


async def measure_ready(home: Path) -> tuple[float, float]:
    """(process start -> health answers, the daemon's own start: recovery to listening).

    The first includes the Python interpreter and imports; the second is what the store's
    size can change (the daemon logs it as "ready in N s").
    """
    t0 = time.perf_counter()
    proc = start_daemon(home, fake=True)
    try:
        info = discovery(home)
        headers = {"Authorization": f"Bearer {info['token']}"}
        await wait_health(f"http://127.0.0.1:{info['port']}", headers)
        total = time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()
    log = Paths.resolve({"KLING_BRIDGE_HOME": str(home)}).log_file.read_text()
    own = float(log.rsplit("ready in ", 1)[1].split("s")[0])
    return total, own


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rate", type=float, default=500.0, help="offered load for latency")
    ap.add_argument("--store-jobs", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        bare_proc = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port)])
        try:
            await wait_health(f"http://127.0.0.1:{port}", {})
            bare, bare_at = await both(
                f"http://127.0.0.1:{port}", {}, args.requests, args.clients, args.rate
            )
        finally:
            bare_proc.kill()
            bare_proc.wait()
        home = Path(tmp) / "load"
        proc = start_daemon(home)
        try:
            info = discovery(home)
            url = f"http://127.0.0.1:{info['port']}"
            headers = {"Authorization": f"Bearer {info['token']}"}
            await wait_health(url, headers)
            ours, ours_at = await both(url, headers, args.requests, args.clients, args.rate)
            dry = await load(url, headers, args.requests, args.clients, dry_run=True)
        finally:
            proc.kill()
            proc.wait()
        empty, empty_own = await measure_ready(Path(tmp) / "empty")
        full_home = Path(tmp) / "full"
        fill_store(full_home, args.store_jobs)
        full, full_own = await measure_ready(full_home)
    r = {
        "create_jobs_per_s": round(ours["rps"], 1),
        "bare_aiohttp_per_s": round(bare["rps"], 1),
        "throughput_ratio_vs_bare": round(ours["rps"] / bare["rps"], 3),
        "saturated_p50_ms": round(ours["p50_ms"], 2),
        "saturated_p99_ms": round(ours["p99_ms"], 2),
        "dry_run_per_s": round(dry["rps"], 1),
        "dry_run_p99_ms": round(dry["p99_ms"], 2),
        "dry_run_ratio_vs_bare": round(dry["rps"] / bare["rps"], 3),
        "offered_rate": args.rate,
        "p50_ms_at_rate": round(ours_at["p50_ms"], 2),
        "p99_ms_at_rate": round(ours_at["p99_ms"], 2),
        "bare_p50_ms_at_rate": round(bare_at["p50_ms"], 2),
        "bare_p99_ms_at_rate": round(bare_at["p99_ms"], 2),
        "p99_ratio_vs_bare_at_rate": round(ours_at["p99_ms"] / bare_at["p99_ms"], 3),
        "achieved_rate": round(ours_at["rps"], 1),
        "ready_empty_s": round(empty, 3),
        "ready_10k_s": round(full, 3),
        "daemon_start_empty_s": round(empty_own, 3),
        "daemon_start_10k_s": round(full_own, 3),
        "daemon_start_ratio_10k_vs_empty": round(full_own / empty_own, 3),
    }
    print(f"job creation (kling-bridge serve, draft provider, real jobs rendering meanwhile), "
          f"{args.clients} concurrent clients (load generator shares the cores):")
    print(
        f"  saturation  daemon {ours['rps']:7.1f} jobs/s | bare aiohttp {bare['rps']:7.1f} req/s"
        f" | ratio x{r['throughput_ratio_vs_bare']}   (goal >= 500 jobs/s)"
    )
    print(
        f"  dry runs    daemon {dry['rps']:7.1f} req/s  p99 {dry['p99_ms']:6.2f} ms"
        f" | ratio x{r['dry_run_ratio_vs_bare']}"
    )
    print(
        f"  at {args.rate:g}/s   daemon p50 {ours_at['p50_ms']:6.2f} ms "
        f"p99 {ours_at['p99_ms']:6.2f} ms | bare p50 {bare_at['p50_ms']:6.2f} "
        f"p99 {bare_at['p99_ms']:6.2f} ms"
        f" | p99 ratio x{r['p99_ratio_vs_bare_at_rate']}   (goal p99 < 50 ms)"
    )
    print(
        f"time to ready (process start -> /v1/health): empty {empty:.3f} s, "
        f"{args.store_jobs} jobs {full:.3f} s (Python start and imports included)"
    )
    print(
        f"  daemon's own start (recovery -> listening): empty {empty_own:.3f} s, "
        f"{args.store_jobs} jobs {full_own:.3f} s   (goal < 1 s)"
    )
    print(json.dumps({"bench": "api", **r}))


if __name__ == "__main__":
    asyncio.run(main())
