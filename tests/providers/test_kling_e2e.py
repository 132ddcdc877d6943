"""End to end through the daemon's own parts: engine -> MediaPipeline -> KlingProvider ->
hosting -> emulator, and back through download and conform.

Restyles start from editors' clips that Kling would refuse as they are (a 640x360 clip, a
2.39:1 scope clip at 29.97 fps, a 1.6 s range, a 15.6 s range). The pipeline fits each
into Kling's limits; the emulator checks every fitted input against kling-api.md on the
bytes it fetched (and records what it saw); the 24 fps answers are conformed back. The
result must be the source range frame for frame: count (decoded), rate, geometry, audio
samples, timecode, and the source frame each result frame shows (barcodes).

Generation and lip-sync run on both standards too, then the faults of the never-pay-twice
protocol. Kling's side of "exactly one task" comes from the emulator's count per key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from tests.kling_emulator import KlingEmulator
from tests.providers.conftest import CREDENTIALS, Media, Sources
from tests.providers.kling_engine import build_engine, wait_terminal
from tests.providers.kling_helpers import conformed

from kling_bridge.hosting import SignedLinkHost
from kling_bridge.jobs import model as m
from kling_bridge.jobs.engine import Engine, NewJob
from kling_bridge.media.synth import read_barcodes
from kling_bridge.specs import (
    ConformTarget,
    GenerateSpec,
    JobSpec,
    LipsyncSpec,
    Look,
    RestyleSpec,
    Shot,
    SourceRange,
    parse_rate,
    rate_str,
)

STANDARDS = ["new", "legacy"]
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


def _one_task_each(job: m.Job, emu: KlingEmulator) -> None:
    assert job.state is m.JobState.SUCCEEDED, job.error
    keys = [t.external_id for t in job.tasks]
    assert {k: emu.stats.tasks_created[k] for k in keys} == dict.fromkeys(keys, 1)
    assert emu.stats.auth_on_results == 0


def _video(job: m.Job) -> Path:
    outputs = job.result["outputs"]  # type: ignore[index]
    return Path(next(o for o in outputs if o["role"] == "video")["path"])


def _creates(emu: KlingEmulator) -> list[dict[str, Any]]:
    return [r for r in emu.stats.requests if r["method"] == "POST"]


# --------------------------------------------------------------------------- restyles


@dataclass(frozen=True)
class Restyle:
    id: str
    source: str  # a field of Sources
    start: int
    count: int
    rate: str
    size: tuple[int, int]  # the source's frame size
    segments: int  # Kling tasks
    canvas: tuple[int, int]  # the fitted input's frame size
    sent_frames: tuple[int, ...]  # frames of each fitted input (padding included)
    notes: tuple[str, ...]  # what the fit plan must say it did
    handles: tuple[int, int] = (0, 0)
    timecode: str | None = None
    sent_rate: str | None = None  # the fitted input's rate, when not the source's
    drift: int = 1  # how far (frames) a conformed frame may be from its source frame


RESTYLES = [
    # 360 px short side: scaled up by 700/360 to Kling's minimum, and back down.
    Restyle("640x360@25-scaled-up", "small25", 0, 100, "25", (640, 360), 1, (1244, 700),
            (100,), ("scaled by 1.9444",)),
    # 2.39:1 at 29.97 fps (drop-frame timecode): letterboxed into 2:1, scaled to 700 px.
    Restyle("scope@29.97-letterboxed", "scope2997", 10, 110, "30000/1001", (640, 268), 1,
            (1400, 700), (110,), ("letterboxed 2.388:1 into 2.00:1", "scaled by 2.1875"),
            timecode="01:00:00;10"),
    # 1.6 s: 10 + 5 frames of handles, then the last frame held up to 3.1 s.
    Restyle("1.6s-handles-then-hold", "small25", 30, 40, "25", (640, 360), 1, (1244, 700),
            (78,), ("handles used: 10 before, 5 after", "held the last frame for 23 frames"),
            handles=(10, 5)),
    # 15.6 s, just over Kling's 15.5 s: two balanced segments, two Kling tasks, stitched
    # back.
    Restyle("15.6s-split-in-two", "long25", 5, 390, "25", (640, 360), 2, (1244, 700),
            (195, 195), ("split into 2 segments",)),
    # 23.976: sent frame for frame at Kling's own 24 fps, so every frame comes back exact.
    Restyle("film@23.976-frame-for-frame", "film23976", 0, 96, "24000/1001", (640, 360), 1,
            (1244, 700), (96,), ("sent frame for frame as 24",), timecode="01:00:00:00",
            sent_rate="24", drift=0),
]


# The media path is the same on both standards (only the create body differs, and every
# case checks it): each case runs on one, the split -- several tasks -- on both.
RESTYLE_RUNS = [(RESTYLES[0], "new"), (RESTYLES[1], "legacy"), (RESTYLES[2], "legacy"),
                (RESTYLES[3], "new"), (RESTYLES[3], "legacy"), (RESTYLES[4], "new")]


@pytest.mark.parametrize(("case", "std"), RESTYLE_RUNS,
                         ids=[f"{c.id}-{std}" for c, std in RESTYLE_RUNS])
async def test_restyle_fits_kling_and_conforms_frame_exactly(
    case: Restyle, std: str, run_job: RunJob, sources: Sources
) -> None:
    path = getattr(sources, case.source)
    before = path.read_bytes()
    rng = SourceRange(str(path), case.start, case.count, case.rate, *case.handles)
    job, emu = await run_job(std, m.JobKind.RESTYLE, RestyleSpec(
        rng, Look("film-noir", "deep shadows"), resolution="720p"))
    _one_task_each(job, emu)
    assert len(job.tasks) == case.segments

    # What Kling was sent: the emulator refused anything outside the limits (HTTP 1201);
    # here, the fit is the one planned: canvas, source rate, lengths, sound.
    rate = parse_rate(case.rate)
    sent_rate = parse_rate(case.sent_rate or case.rate)
    tasks = {t.external_id: t for t in emu.tasks.values()}
    sent = [tasks[t.external_id] for t in job.tasks]
    for task, frames in zip(sent, case.sent_frames, strict=True):
        (video,) = [i for i in task.inputs if i["what"] == "video"]
        assert (video["width"], video["height"]) == case.canvas
        assert video["display"] == list(case.canvas)  # square pixels, no rotation tag
        assert video["fps"] == pytest.approx(float(sent_rate), abs=1e-3)
        assert video["video_duration"] == pytest.approx(float(frames / sent_rate), abs=0.03)
        assert video["audio_codec"] == "aac"  # the original sound goes with it
        assert task.units == pytest.approx(0.9 * video["duration"], abs=1e-3)  # 720p O3
    assert job.billed_units == pytest.approx(sum(t.units for t in sent))
    assert job.estimate_units == pytest.approx(job.billed_units, rel=0.02)  # shown = charged
    for create in _creates(emu):
        body = create["body"]
        if std == "new":
            assert create["path"] == "/omni-video/kling-3.0-omni"
            assert body["settings"] == {"resolution": "720p", "multi_shot": False,
                                        "audio": "original"}
            assert "@video_1" in body["contents"][0]["text"]
        else:
            assert create["path"] == "/v1/videos/omni-video"
            assert body["mode"] == "std" and body["video_list"][0]["refer_type"] == "base"
            assert body["video_list"][0]["keep_original_sound"] == "yes"
    notes = " | ".join(job.result["metadata"]["fit_notes"])  # type: ignore[index]
    for words in case.notes:
        assert words in notes

    # What the editor gets back: the source range, frame for frame.
    out = _video(job)
    got = conformed(out)
    assert got["frames"] == case.count
    assert got["rate"] == rate_str(rate)
    assert got["size"] == case.size
    assert got["audio_rate"] == 48000
    assert got["audio_samples"] == round(Fraction(case.count) / rate * 48000)
    if case.timecode:
        assert got["timecode"] == case.timecode
    codes = read_barcodes(out)
    assert len(codes) == case.count
    # A 24 fps answer re-timed to 25 or 29.97 shows each source frame or its neighbour.
    assert max(abs(c - (case.start + k)) for k, c in enumerate(codes)) <= case.drift, codes
    assert codes == sorted(codes)  # never a frame from the past
    assert path.read_bytes() == before  # the source is never touched


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize("std", STANDARDS)
@pytest.mark.parametrize("kind", ["t2v", "i2v", "shots", "lipsync-video", "lipsync-still"])
async def test_generation_and_lipsync(std: str, kind: str, run_job: RunJob,
                                      media: Media) -> None:
    timeline = ConformTarget("25", 640, 360)
    specs: dict[str, tuple[m.JobKind, JobSpec, tuple[int, str], float]] = {
        "t2v": (m.JobKind.GENERATE, GenerateSpec(
            prompt="city at night", duration=3, audio=True, aspect_ratio="9:16",
            resolution="720p"), (72, "24/1"), 2.7),
        # conformed to the timeline: 3 s at 25 fps, 640x360
        "i2v": (m.JobKind.GENERATE, GenerateSpec(
            prompt="push in", image=str(media.still), duration=3, resolution="720p",
            conform=timeline), (75, "25/1"), 1.8),
        "shots": (m.JobKind.GENERATE, GenerateSpec(
            prompt="same man", resolution="1080p",
            shots=(Shot("he enters", 2), Shot("he sits; sighs", 2))), (96, "24/1"), 3.2),
        "lipsync-video": (m.JobKind.LIPSYNC, LipsyncSpec(
            audio=str(media.dialogue), audio_start=0.5, audio_end=3.0, video=str(media.clip)),
            (96, "24/1"), 0.55),
        "lipsync-still": (m.JobKind.LIPSYNC, LipsyncSpec(
            audio=str(media.dialogue), audio_start=0.5, audio_end=3.0, image=str(media.still)),
            (72, "24/1"), 0.55),
    }
    job_kind, spec, (frames, rate), units = specs[kind]
    job, emu = await run_job(std, job_kind, spec)
    _one_task_each(job, emu)
    got = conformed(_video(job))
    assert (got["frames"], got["rate"]) == (frames, rate)
    assert job.billed_units == pytest.approx(units)
    assert job.estimate_units == pytest.approx(units)  # the cost shown before sending
    creates = _creates(emu)
    if kind.startswith("lipsync"):
        assert got["audio_samples"] > 0
        assert [c["path"] for c in creates] == ["/v1/videos/identify-face",
                                                "/v1/videos/advanced-lip-sync"]
        face = creates[1]["body"]["face_choose"][0]
        assert (face["sound_start_time"], face["sound_end_time"]) == (0, 2500)
        assert (job.tasks[0].provider_task_id or "").startswith("advanced-lip-sync/")
        return
    (create,) = creates
    body = create["body"]
    if kind == "t2v":
        assert got["size"][1] > got["size"][0] and got["audio_samples"] > 0  # 9:16, sound
    if kind == "i2v":
        assert got["size"] == (640, 360)
    if std == "new":
        assert create["path"] == {"t2v": "/text-to-video/kling-3.0",
                                  "i2v": "/image-to-video/kling-3.0",
                                  "shots": "/text-to-video/kling-3.0"}[kind]
        if kind == "shots":
            assert "shot 1, 2, he enters; shot 2, 2, he sits, sighs;" in body["prompt"]
            assert body["settings"]["multi_shot"] is True
    else:
        assert create["path"] in ("/v1/videos/text2video", "/v1/videos/image2video")
        if kind == "shots":
            assert [s["duration"] for s in body["multi_prompt"]] == ["2", "2"]


# --------------------------------------------------------------------------- faults


def _restyle(sources: Sources) -> RestyleSpec:
    return RestyleSpec(source=SourceRange(str(sources.small25), 0, 100, "25"),
                       look=Look("film-noir", "film noir, deep shadows"), resolution="720p")


# 5000 after creating a new-standard restyle and a legacy text-to-video: the same jobs as
# test_kling_busy's test_a_task_is_looked_up_only_where_it_was_created, which asserts all of
# this test's checks on them too (one task, one create, success, the conformed length).
@pytest.mark.parametrize(("std", "action", "kind"), [
    ("legacy", "drop_after_create", "restyle"), ("new", "drop_after_create", "t2v"),
])
async def test_5000_or_drop_after_create_ends_with_one_task_and_success(
    std: str, action: str, kind: str, run_job: RunJob, emulator: KlingEmulator,
    sources: Sources,
) -> None:
    emulator.add_fault(on="create", action=action, code=5000)
    if kind == "restyle":  # the hosted clip must stay up until the task is found
        job, emu = await run_job(std, m.JobKind.RESTYLE, _restyle(sources))
    else:
        job, emu = await run_job(std, m.JobKind.GENERATE, GenerateSpec(prompt="x", duration=3))
    _one_task_each(job, emu)
    key = job.tasks[0].external_id
    assert emu.stats.creates_attempted[key] == 1  # recovered by lookup, never re-sent
    assert conformed(_video(job))["frames"] == (100 if kind == "restyle" else 72)


async def test_1303_burst_ends_succeeded(run_job: RunJob, emulator: KlingEmulator) -> None:
    emulator.add_fault(on="create", action="error", code=1303, count=2)
    job, emu = await run_job("new", m.JobKind.GENERATE, GenerateSpec(prompt="x", duration=3))
    _one_task_each(job, emu)
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
