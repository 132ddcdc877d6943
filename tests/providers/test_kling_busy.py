"""A busy or unreachable Kling account never strands a job (issue 10, part 2).

Against the emulator, through the real engine and provider:

* 1303 ("concurrency over the resource pack limit", what new accounts hit all the time) on
  the first creates of a batch of 8, on top of a real 2-slot account: every job finishes,
  exactly one task each, and a refusal is re-sent under the same key without a lookup;
* a task is looked up only where it was created (the new standard's ``GET /tasks`` for an
  O3 or 3.0 task, never the legacy lip-sync tree; a legacy task on its own endpoint only),
  and 1202 and 1203 both count as "not found";
* a refused connection is "nothing was sent", not "fate unknown".

The emulator's request log tells lookups (by our ``kb-`` external ids) from polls (by
Kling's task ids).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.kling_emulator import Account, KlingEmulator
from tests.providers.conftest import CREDENTIALS, MakeProvider
from tests.providers.kling_engine import build_engine, wait_terminal
from tests.providers.kling_helpers import conformed

from kling_bridge.config import KlingSettings
from kling_bridge.hosting import SignedLinkHost
from kling_bridge.jobs import model as m
from kling_bridge.jobs.engine import Engine, NewJob
from kling_bridge.providers.base import ErrorKind, Operation, ProviderError, TaskRequest
from kling_bridge.providers.kling import KlingProvider
from kling_bridge.specs import GenerateSpec

STANDARDS = ["new", "legacy"]
T2V = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="waves at dusk", duration=3)
MakeEngine = Callable[..., Engine]


def lookups(emu: KlingEmulator) -> list[dict[str, Any]]:
    """GETs that look a task up by our external id (polls use Kling's own task ids)."""
    return [r for r in emu.stats.requests if r["method"] == "GET"
            and ("kb-" in r["path"] or "kb-" in r["query"].get("external_task_ids", ""))]


@pytest.fixture
async def make_engine(signed_host: SignedLinkHost, tmp_path: Path
                      ) -> AsyncIterator[MakeEngine]:
    engines: list[Engine] = []

    def make(api_base: str, std: str = "new", **queue: Any) -> Engine:
        engine, _ = build_engine(api_base, CREDENTIALS[std], signed_host, tmp_path / "scratch")
        for key, value in queue.items():
            setattr(engine.settings.queue, key, value)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.stop()
        await engine.providers["kling"].aclose()


async def submit(engine: Engine, *specs: GenerateSpec) -> list[m.Job]:
    _, jobs = await engine.submit(m.JobKind.GENERATE, [NewJob(s) for s in specs],
                                  provider="kling")
    return jobs


@pytest.mark.parametrize("std", STANDARDS)
async def test_1303_on_the_first_creates_of_a_batch_of_8_all_finish_one_task_each(
    std: str, emulator: KlingEmulator, make_engine: MakeEngine
) -> None:
    emulator.account.concurrency = 2  # a new account: Kling itself answers 1303 beyond 2
    emulator.add_fault(on="create", action="error", code=1303, count=4,
                       message="parallel task count exceeds the resource pack limit")
    engine = make_engine(emulator.base_url, std, max_attempts=2)  # 1303 spends none
    await engine.start()
    jobs = await submit(engine, *[GenerateSpec(prompt=f"shot {n}", duration=3)
                                  for n in range(8)])
    finals = [await wait_terminal(engine, j.id, timeout=240) for j in jobs]
    assert [f.state for f in finals] == [m.JobState.SUCCEEDED] * 8, [f.error for f in finals]
    keys = [f.tasks[0].external_id for f in finals]
    assert dict(emulator.stats.tasks_created) == dict.fromkeys(keys, 1)
    refused = sum(emulator.stats.creates_attempted.values()) - 8
    assert refused >= 4  # the injected 1303s, plus the account's own
    assert {k: emulator.stats.creates_attempted[k] >= 1 for k in keys} == dict.fromkeys(keys, True)
    # The same key went again; no lookup was needed: 1303 means "not created".
    assert [f.tasks[0].external_id for f in finals] == [m.external_id(j.id, 0, 1) for j in jobs]
    assert lookups(emulator) == []
    assert all(f.attempts == 0 for f in finals)


async def test_1302_rate_limit_on_creates_leaves_jobs_waiting_then_sends_each_once(
    emulator: KlingEmulator, make_engine: MakeEngine
) -> None:
    """1302 ("too many requests") is the other "not created" refusal: wait, send the same key."""
    emulator.add_fault(on="create", action="error", code=1302, count=3,
                       message="too many requests")
    engine = make_engine(emulator.base_url, "new", max_attempts=2)
    await engine.start()
    jobs = await submit(engine, *[GenerateSpec(prompt=f"shot {n}", duration=3) for n in range(3)])
    finals = [await wait_terminal(engine, j.id, timeout=240) for j in jobs]
    assert [f.state for f in finals] == [m.JobState.SUCCEEDED] * 3, [f.error for f in finals]
    keys = [f.tasks[0].external_id for f in finals]
    assert dict(emulator.stats.tasks_created) == dict.fromkeys(keys, 1)
    assert sum(emulator.stats.creates_attempted.values()) >= 3 + 3  # the 1302s went again
    assert lookups(emulator) == []
    assert all(f.attempts == 0 for f in finals)


@pytest.mark.parametrize(("std", "kind", "where"), [
    ("new", "edit", "new:/omni-video/kling-3.0-omni"),
    ("new", "t2v", "new:/text-to-video/kling-3.0"),
    ("legacy", "t2v", "legacy:text2video"),
])
async def test_a_task_is_looked_up_only_where_it_was_created(
    std: str, kind: str, where: str, emulator: KlingEmulator, make_engine: MakeEngine,
    sources: Any,
) -> None:
    from kling_bridge.specs import Look, RestyleSpec, SourceRange

    emulator.add_fault(on="create", action="error_after_create", code=5000)
    engine = make_engine(emulator.base_url, std)
    await engine.start()
    if kind == "edit":
        spec: Any = RestyleSpec(SourceRange(str(sources.small25), 0, 100, "25"),
                                Look("film-noir"), resolution="720p")
        _, (job,) = await engine.submit(m.JobKind.RESTYLE, [NewJob(spec)], provider="kling")
    else:
        (job,) = await submit(engine, GenerateSpec(prompt="x", duration=3))
    done = await wait_terminal(engine, job.id)
    assert done.state is m.JobState.SUCCEEDED, done.error
    assert done.tasks[0].where == where
    key = done.tasks[0].external_id
    assert emulator.stats.creates_attempted[key] == 1  # found, never re-sent
    (lookup,) = lookups(emulator)
    if std == "new":  # GET /tasks only: never the legacy lip-sync tree
        assert lookup["path"] == "/tasks" and lookup["query"] == {"external_task_ids": key}
    else:
        assert lookup["path"] == f"/v1/videos/text2video/{key}"
    # test_kling_e2e's "5000 after create ends with one task and success" for these
    # (standard, kind) pairs: the same job, so asserted here rather than run twice.
    assert emulator.stats.tasks_created == {key: 1}
    assert emulator.stats.auth_on_results == 0
    outputs = done.result["outputs"]  # type: ignore[index]
    video = Path(next(o for o in outputs if o["role"] == "video")["path"])
    assert conformed(video)["frames"] == (100 if kind == "edit" else 72)


@pytest.mark.parametrize("code", [1202, 1203])
async def test_1202_and_1203_prove_a_legacy_task_absent(
    code: int, emulator: KlingEmulator, make_provider: MakeProvider, make_engine: MakeEngine
) -> None:
    emulator.not_found_code = code
    provider = make_provider("legacy")
    assert await provider.lookup(["kb-never-sent"], "legacy:omni-video") == {}
    assert await provider.lookup(["kb-never-sent"]) == {}  # every endpoint: all say so
    # Through the engine: a 5000 that did not create -> lookup -> not found -> sent again.
    emulator.add_fault(on="create", action="error", code=5000)
    engine = make_engine(emulator.base_url, "legacy")
    await engine.start()
    (job,) = await submit(engine, GenerateSpec(prompt="x", duration=3))
    done = await wait_terminal(engine, job.id)
    assert done.state is m.JobState.SUCCEEDED, done.error
    key = done.tasks[0].external_id
    assert emulator.stats.creates_attempted[key] == 2
    assert emulator.stats.tasks_created == {key: 1}
    assert [r["path"] for r in lookups(emulator) if key in r["path"]] == [
        f"/v1/videos/text2video/{key}"]


async def test_other_codes_never_prove_absence(
    emulator: KlingEmulator, make_provider: MakeProvider
) -> None:
    emulator.not_found_code = 1201  # not a "not found" answer
    with pytest.raises(ProviderError):
        await make_provider("legacy").lookup(["kb-never-sent"], "legacy:omni-video")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_refused_connection_is_not_fate_unknown(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{_free_port()}"
    provider = KlingProvider(CREDENTIALS["new"], settings=KlingSettings(api_base=base),
                             scratch_dir=tmp_path)
    with pytest.raises(ProviderError) as exc:
        await provider.submit(T2V, "kb-refused")
    err = exc.value
    assert err.kind is ErrorKind.CONNECTION and not err.maybe_created
    assert base in err.message and "nothing was sent" in err.message
    assert "KLING_API_BASE" in err.hint
    await provider.aclose()


async def test_an_engine_waits_out_a_refused_connection_then_sends_once(
    make_engine: MakeEngine,
) -> None:
    port = _free_port()
    engine = make_engine(f"http://127.0.0.1:{port}", max_attempts=200)
    await engine.start()
    (job,) = await submit(engine, GenerateSpec(prompt="x", duration=3))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while "Cannot connect" not in (engine.store.get(job.id) or job).note:
        assert loop.time() < deadline, engine.store.get(job.id)
        await asyncio.sleep(0.02)
    emu = KlingEmulator([Account()], submitted_seconds=0.05, processing_seconds=0.15,
                        output_height=120, port=port)
    await emu.start()
    try:
        done = await wait_terminal(engine, job.id)
        assert done.state is m.JobState.SUCCEEDED, done.error
        key = done.tasks[0].external_id
        assert emu.stats.creates_attempted == {key: 1} and emu.stats.tasks_created == {key: 1}
        assert lookups(emu) == []  # nothing had been sent: nothing to look up
    finally:
        await emu.stop()


async def test_kling_never_reachable_fails_clearly_without_attention(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine(f"http://127.0.0.1:{_free_port()}", max_attempts=2)
    await engine.start()
    (job,) = await submit(engine, GenerateSpec(prompt="x", duration=3))
    done = await wait_terminal(engine, job.id)
    assert done.state is m.JobState.FAILED  # nothing paid: no person needed
    assert done.error is not None and "Cannot connect to Kling" in done.error.message
    assert "nothing was sent" in done.error.message and done.billed_units == 0
