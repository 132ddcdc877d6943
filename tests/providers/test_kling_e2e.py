"""End to end through the real job engine: engine -> KlingProvider -> hosting -> emulator.

Every operation on both standards, then the faults of the never-pay-twice protocol. Kling's
side of "exactly one task" comes from the emulator's own count per external id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.kling_emulator import KlingEmulator
from tests.providers.conftest import CREDENTIALS, Media
from tests.providers.e2e_pipeline import count_frames
from tests.providers.kling_engine import build_engine, wait_terminal

from kling_bridge.hosting import SignedLinkHost
from kling_bridge.jobs import model as m
from kling_bridge.jobs.engine import Engine, NewJob
from kling_bridge.specs import (
    GenerateSpec,
    JobSpec,
    LipsyncSpec,
    Look,
    RestyleSpec,
    Shot,
    SourceRange,
)

RunJob = Callable[..., Awaitable[tuple[m.Job, KlingEmulator]]]


@pytest.fixture
async def run_job(emulator: KlingEmulator, signed_host: SignedLinkHost,
                  tmp_path: Path) -> AsyncIterator[RunJob]:
    engines: list[Engine] = []

    async def run(std: str, kind: m.JobKind, spec: JobSpec) -> tuple[m.Job, KlingEmulator]:
        engine, _ = build_engine(emulator.base_url, CREDENTIALS[std], signed_host,
                                 tmp_path / "scratch")
        engines.append(engine)
        await engine.start()
        _, jobs = await engine.submit(kind, [NewJob(spec)], provider="kling")
        return await wait_terminal(engine, jobs[0].id), emulator

    yield run
    for engine in engines:
        await engine.stop()
        await engine.providers["kling"].aclose()


def _restyle(media: Media) -> RestyleSpec:
    return RestyleSpec(source=SourceRange(str(media.clip), 0, 100, "25"),
                       look=Look("film-noir", "film noir, deep shadows"), resolution="720p")


def _one_task(job: m.Job, emu: KlingEmulator) -> None:
    assert job.state is m.JobState.SUCCEEDED, job.error
    keys = [t.external_id for t in job.tasks]
    assert {k: emu.stats.tasks_created[k] for k in keys} == dict.fromkeys(keys, 1)
    assert emu.stats.auth_on_results == 0


@pytest.mark.parametrize("std", ["new", "legacy"])
async def test_restyle_conforms_frame_exactly_to_its_source(
    std: str, run_job: RunJob, media: Media
) -> None:
    job, emu = await run_job(std, m.JobKind.RESTYLE, _restyle(media))
    _one_task(job, emu)
    out = job.result["outputs"][0]  # type: ignore[index]
    assert await count_frames(Path(out["path"])) == (100, "25/1", 1280, 720)
    assert job.tasks[0].billed_units == pytest.approx(3.6)  # 4 s x 0.9 units (720p, video)


@pytest.mark.parametrize("std", ["new", "legacy"])
@pytest.mark.parametrize("kind", ["t2v", "i2v", "shots", "lipsync"])
async def test_generation_and_lipsync(std: str, kind: str, run_job: RunJob,
                                      media: Media) -> None:
    specs: dict[str, tuple[m.JobKind, JobSpec, int]] = {
        "t2v": (m.JobKind.GENERATE, GenerateSpec(prompt="city at night", duration=3,
                                                 audio=True), 72),
        "i2v": (m.JobKind.GENERATE, GenerateSpec(prompt="push in", image=str(media.still),
                                                 duration=3), 72),
        "shots": (m.JobKind.GENERATE, GenerateSpec(prompt="same man", shots=(
            Shot("he enters", 2), Shot("he sits; sighs", 2))), 96),
        "lipsync": (m.JobKind.LIPSYNC, LipsyncSpec(audio=str(media.dialogue), audio_start=0.5,
                                                   audio_end=3.0, video=str(media.clip)), 96),
    }
    job_kind, spec, frames = specs[kind]
    job, emu = await run_job(std, job_kind, spec)
    _one_task(job, emu)
    out = job.result["outputs"][0]  # type: ignore[index]
    assert (await count_frames(Path(out["path"])))[:2] == (frames, "24/1")


@pytest.mark.parametrize("std", ["new", "legacy"])
@pytest.mark.parametrize("action", ["error_after_create", "drop_after_create"])
async def test_5000_or_drop_after_create_ends_with_one_task_and_success(
    std: str, action: str, run_job: RunJob, emulator: KlingEmulator, media: Media
) -> None:
    emulator.add_fault(on="create", action=action, code=5000)
    job, emu = await run_job(std, m.JobKind.RESTYLE, _restyle(media))
    _one_task(job, emu)
    key = job.tasks[0].external_id
    assert emu.stats.creates_attempted[key] == 1  # recovered by lookup, never re-sent


async def test_1303_burst_ends_succeeded(run_job: RunJob, emulator: KlingEmulator) -> None:
    emulator.add_fault(on="create", action="error", code=1303, count=2)
    job, emu = await run_job("new", m.JobKind.GENERATE, GenerateSpec(prompt="x", duration=3))
    _one_task(job, emu)
    assert job.attempts == 0  # rate limits spend no attempt
    assert emu.stats.creates_attempted[job.tasks[0].external_id] == 3


@pytest.mark.parametrize(
    ("fault", "balance", "words"),
    [
        ({"on": "create", "action": "error", "code": 1102}, None,
         "Kling resource pack exhausted or expired: buy credits or enable postpaid"),
        (None, 0.5, "Kling resource pack exhausted or expired: buy credits or enable postpaid"),
        ({"on": "create", "action": "error", "code": 1301, "message": "prompt not allowed"},
         None, "content safety"),
        ({"on": "create", "action": "fail_task", "message": "risk control: output refused"},
         None, "risk control: output refused"),
    ],
)
async def test_quota_and_policy_fail_with_clear_messages(
    fault: dict[str, Any] | None, balance: float | None, words: str, run_job: RunJob,
    emulator: KlingEmulator,
) -> None:
    if fault:
        emulator.add_fault(**fault)
    emulator.account.balance_units = balance
    job, emu = await run_job("new", m.JobKind.GENERATE, GenerateSpec(prompt="x", duration=3))
    assert job.state is m.JobState.FAILED and job.error is not None
    assert words in job.error.message and job.error.hint
    created = sum(emu.stats.tasks_created.values())
    assert created == (1 if fault and fault["action"] == "fail_task" else 0)
