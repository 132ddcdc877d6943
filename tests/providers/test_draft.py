"""The draft provider, for real: ffmpeg renders that behave like Kling's answers."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.shared_files import make_once, shared_folder

from kling_bridge.config import Paths
from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_clip, make_still, make_tone
from kling_bridge.providers.base import (
    AudioMode,
    ErrorKind,
    Operation,
    Provider,
    ProviderError,
    Resolution,
    TaskPhase,
    TaskRequest,
    TaskStatus,
)
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.providers.request_json import request_from_dict, request_to_dict
from kling_bridge.specs import Shot


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Read-only inputs, made once per run (every xdist worker reads the same files)."""
    d = shared_folder(tmp_path_factory, "draft-assets")
    made = {"clip": d / "fitted clip.mp4", "still": d / "still.png",
            "portrait": d / "portrait.png", "dialogue": d / "dialogue.wav"}
    with make_once(d) as must:
        if must:
            make_clip(made["clip"], width=1244, height=700, rate="25", frames=80,
                      pattern="testsrc2")
            make_still(made["still"], 1600, 900)
            make_still(made["portrait"], 900, 1600, pattern="mandelbrot")
            make_tone(made["dialogue"], 5.0)
    return made


#: Where a test checks timing, cuts, keys or sweeping rather than Kling's frame sizes, the
#: draft renders 320x180 frames (``short_side``): the same graphs, a sixteenth of the pixels.
SMALL = 180


async def wait_done(p: DraftProvider, task_id: str, timeout: float = 300) -> TaskStatus:
    """Poll every 20 ms until done; the deadline only catches a hang (a shared CI machine
    can take over a minute for a render that takes seconds when idle)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = (await p.poll([task_id]))[task_id]
        if status.done:
            return status
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.02)


async def run_task(p: DraftProvider, req: TaskRequest, dest: Path, key: str) -> Path:
    task_id = await p.submit(req, key)
    status = await wait_done(p, task_id)
    assert status.phase is TaskPhase.SUCCEEDED, status.message
    assert status.billed is not None and status.billed.units == 0
    (out,) = status.outputs
    return await p.fetch(out, dest)


def _comment(path: Path) -> str:
    return probe(path).tags.get("comment", "")


async def test_port_shape_and_price() -> None:
    p = DraftProvider(encoder_preset="ultrafast")
    assert isinstance(p, Provider)
    assert p.capabilities.draft and not p.capabilities.paid
    assert p.capabilities.operations == frozenset(Operation)
    assert p.limits.video_max_seconds == 15.5 and p.limits.output_fps == 24
    assert p.estimate(TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "x", duration=10)).units \
        == 0
    assert (await p.check()).ok


async def test_restyle_draft_answers_at_once_then_renders(assets: dict[str, Path],
                                                          tmp_path: Path) -> None:
    p = DraftProvider(encoder_preset="ultrafast")
    req = TaskRequest(Operation.EDIT, "kling-3.0-omni", "noir", preset="film-noir",
                      video=assets["clip"], video_duration=3.2, resolution=Resolution.R720,
                      audio_mode=AudioMode.ORIGINAL)
    task_id = await p.submit(req, "job1-t0-g0")
    first = (await p.poll([task_id]))[task_id]
    assert first.phase in (TaskPhase.SUBMITTED, TaskPhase.PROCESSING)  # not rendered yet
    status = await wait_done(p, task_id)
    assert status.phase is TaskPhase.SUCCEEDED
    dest = await p.fetch(status.outputs[0], tmp_path / "answer.mp4")
    info = probe(dest)
    assert info.video is not None and info.video.rate == 24
    assert (info.video.width, info.video.height) == (1280, 720)
    assert info.video.duration == pytest.approx(3.2, abs=1 / 24)  # an edit keeps its length
    assert info.audio is not None
    assert "kling-bridge draft" in _comment(dest) and "film-noir" in _comment(dest)
    assert [f.name for f in tmp_path.iterdir()] == ["answer.mp4"]  # no temp left behind
    await p.aclose()


async def test_text_to_video_slate_with_native_audio(tmp_path: Path) -> None:
    p = DraftProvider(encoder_preset="ultrafast")
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "a lighthouse at dawn, fog rolling",
                      duration=3, resolution=Resolution.R720, aspect_ratio="9:16",
                      audio_mode=AudioMode.NATIVE)
    out = await run_task(p, req, tmp_path / "t2v.mp4", "k-t2v")
    info = probe(out)
    assert info.video is not None
    assert (info.video.width, info.video.height, info.video.frame_count) == (720, 1280, 72)
    assert info.audio is not None and info.audio.duration == pytest.approx(3.0, abs=0.03)
    await p.aclose()


async def test_multi_shot_cuts_at_the_shot_boundaries(tmp_path: Path) -> None:
    p = DraftProvider(encoder_preset="ultrafast", short_side=SMALL)
    shots = (Shot("a woman opens a red door", 1), Shot("she walks into the rain", 2),
             Shot("close-up of her smile", 1))
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", shots=shots, duration=4,
                      resolution=Resolution.R720)
    out = await run_task(p, req, tmp_path / "multi.mp4", "k-multi")
    info = probe(out)
    assert info.video is not None and info.video.frame_count == 96 and info.audio is None
    found = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-vf",
         "scale=160:-2,select='gt(scene,0.25)',metadata=print:file=-", "-f", "null", "-"],
        capture_output=True, text=True, check=True).stdout
    cuts = [round(float(t) * 24) for t in re.findall(r"pts_time:([0-9.]+)", found)]
    assert cuts == [24, 72]
    await p.aclose()


@pytest.mark.parametrize(("still", "size"), [("still", (1280, 720)), ("portrait", (720, 1280))])
async def test_image_to_video_moves_over_the_still(assets: dict[str, Path], tmp_path: Path,
                                                   still: str, size: tuple[int, int]) -> None:
    p = DraftProvider(encoder_preset="ultrafast")
    req = TaskRequest(Operation.IMAGE_TO_VIDEO, "kling-3.0", "slow push in",
                      image=assets[still], duration=3, resolution=Resolution.R720)
    out = await run_task(p, req, tmp_path / "i2v.mp4", f"k-i2v-{still}")
    info = probe(out)
    assert info.video is not None and (info.video.width, info.video.height) == size
    assert info.video.frame_count == 72
    # it moves: first and last frames differ
    frames = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-vf",
         "select='eq(n,0)+eq(n,71)',scale=32:18,format=gray", "-fps_mode", "passthrough",
         "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    a, b = frames[:576], frames[576:]
    assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) / 576 > 2
    await p.aclose()


async def test_lipsync_is_driven_by_the_dialogue_range(assets: dict[str, Path],
                                                       tmp_path: Path) -> None:
    p = DraftProvider(encoder_preset="ultrafast", short_side=SMALL)
    req = TaskRequest(Operation.LIPSYNC, "kling-3.0", image=assets["still"],
                      audio=assets["dialogue"], audio_range=(1.0, 3.5),
                      resolution=Resolution.R720)
    out = await run_task(p, req, tmp_path / "lips.mp4", "k-lips")
    info = probe(out)
    assert info.video is not None and info.video.frame_count == 60
    assert info.audio is not None and info.audio.duration == pytest.approx(2.5, abs=0.03)
    await p.aclose()


async def test_a_key_is_single_use(assets: dict[str, Path]) -> None:
    p = DraftProvider(render_delay=5)
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "x", duration=3)
    await p.submit(req, "once")
    with pytest.raises(ProviderError) as caught:
        await p.submit(req, "once")
    assert caught.value.kind is ErrorKind.DUPLICATE
    await p.aclose()


@pytest.mark.parametrize(
    ("req", "words"),
    [
        (TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "x" * 2501, duration=5), "2501"),
        (TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "x", duration=20), "3-15"),
        (TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "", duration=5), "needs a prompt"),
        (TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", shots=(Shot("a", 2), Shot("b", 2)),
                     duration=5), "shots last 4 s but the duration is 5 s"),
        (TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "x", duration=5,
                     audio_mode=AudioMode.ORIGINAL), "no original sound"),
        (TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "x", duration=5,
                     aspect_ratio="4:3"), "4:3"),
        (TaskRequest(Operation.IMAGE_TO_VIDEO, "kling-3.0", "x", image=Path("/no/such.png"),
                     duration=5), "does not exist"),
        (TaskRequest(Operation.LIPSYNC, "kling-3.0", audio=Path(__file__)), "needs a face"),
    ],
)
def test_refusals_are_clear(req: TaskRequest, words: str) -> None:
    with pytest.raises(ProviderError) as caught:
        DraftProvider().validate(req)
    assert caught.value.kind is ErrorKind.BAD_REQUEST and words in caught.value.message


def test_edit_refusals(assets: dict[str, Path]) -> None:
    p = DraftProvider(encoder_preset="ultrafast")
    base: dict[str, Any] = dict(operation=Operation.EDIT, model="kling-3.0-omni",
                                video=assets["clip"])
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"audio_mode": AudioMode.NATIVE}, "native audio"), ({"video_duration": 20.0}, "20.00 s"),
        ({"preset": "vaporwave"}, "unknown look preset")]
    for extra, words in refusals:
        with pytest.raises(ProviderError, match=words):
            p.validate(TaskRequest(**(base | extra)))


def test_requests_survive_their_status_file(assets: dict[str, Path]) -> None:
    req = TaskRequest(Operation.IMAGE_TO_VIDEO, "kling-3.0", "p", image=assets["still"],
                      shots=(Shot("a", 2), Shot("b", 3)), duration=5,
                      audio_range=(1.0, 2.0), audio_mode=AudioMode.NATIVE)
    assert request_from_dict(request_to_dict(req)) == req


async def test_found_by_key_after_a_crash_and_rendered_again(tmp_path: Path) -> None:
    """A daemon killed mid-render: the next one finds the task by key and finishes it."""
    paths = Paths.resolve()
    first = DraftProvider(paths, render_delay=30)
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "after the crash", duration=3,
                      resolution=Resolution.R720)
    task_id = await first.submit(req, "job9-t0-g0")
    await asyncio.sleep(0.2)
    assert (await first.poll([task_id]))[task_id].phase is TaskPhase.PROCESSING
    await first.aclose()  # the process dies; its status file still says "processing"

    second = DraftProvider(paths, encoder_preset="ultrafast", short_side=SMALL)
    assert await second.lookup(["never-sent"]) == {}
    found = await second.lookup(["job9-t0-g0", "never-sent"])
    assert list(found) == ["job9-t0-g0"] and found["job9-t0-g0"].task_id == task_id
    status = await wait_done(second, task_id)
    assert status.phase is TaskPhase.SUCCEEDED
    out = await second.fetch(status.outputs[0], tmp_path / "recovered.mp4")
    assert probe(out).video is not None
    await second.aclose()


async def test_a_render_that_fails_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "not really.mp4"
    fake.write_text("no video here")
    p = DraftProvider(encoder_preset="ultrafast")
    req = TaskRequest(Operation.EDIT, "kling-3.0-omni", preset="fog", video=fake,
                      video_duration=4.0)
    status = await wait_done(p, await p.submit(req, "bad-input"))
    assert status.phase is TaskPhase.FAILED
    assert "draft render failed" in status.message and "not really.mp4" in status.message
    await p.aclose()


class _BuggyDraft(DraftProvider):
    """A draft provider with a bug in its rendering (an error no render step expects)."""

    renders = 0

    async def _render(self, r: TaskRequest, dest: Path, task_id: str) -> None:
        self.renders += 1
        raise KeyError("width")


async def test_a_bug_in_a_render_fails_the_task_once_instead_of_rendering_it_forever(
        assets: dict[str, Path]) -> None:
    p = _BuggyDraft(encoder_preset="ultrafast")
    req = TaskRequest(Operation.EDIT, "kling-3.0-omni", preset="fog", video=assets["clip"],
                      video_duration=3.2)
    task_id = await p.submit(req, "buggy")
    status = await wait_done(p, task_id)
    for _ in range(5):  # polled again: still failed, not started over
        status = (await p.poll([task_id]))[task_id]
        await asyncio.sleep(0.02)
    assert status.phase is TaskPhase.FAILED and p.renders == 1
    assert "a bug in kling-bridge" in status.message and "'width'" in status.message
    await p.aclose()


async def test_old_drafts_are_swept_like_expired_results(tmp_path: Path) -> None:
    import os
    import time

    p = DraftProvider(encoder_preset="ultrafast", short_side=SMALL)
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", "old", duration=3,
                      resolution=Resolution.R720)
    task_id = await p.submit(req, "old-key")
    await wait_done(p, task_id)
    files = [f for f in p.root.rglob("*") if f.is_file()]
    assert len(files) == 3  # status, key, output
    month_ago = time.time() - 31 * 24 * 3600
    for f in files:
        os.utime(f, (month_ago, month_ago))
    assert p.sweep() == 3
    assert await p.lookup(["old-key"]) == {}
    await p.aclose()


def test_serve_takes_the_draft_encoder_preset_from_config_toml(tmp_path: Path) -> None:
    """``[draft] encoder_preset`` reaches the draft provider ``serve`` builds (veryfast when
    unset); a preset x264 does not have is refused naming the key."""
    from kling_bridge.config import ConfigError, load_settings
    from kling_bridge.credentials import KlingCredential
    from kling_bridge.daemon import build_providers

    paths = Paths.resolve({"KLING_BRIDGE_HOME": str(tmp_path)})
    paths.config_dir.mkdir(parents=True)
    draft = build_providers(load_settings(paths, env={}), paths, KlingCredential())["draft"]
    assert isinstance(draft, DraftProvider) and draft._x264 == "veryfast"
    paths.config_file.write_text('[draft]\nencoder_preset = "ultrafast"\n')
    draft = build_providers(load_settings(paths, env={}), paths, KlingCredential())["draft"]
    assert isinstance(draft, DraftProvider) and draft._x264 == "ultrafast"
    paths.config_file.write_text('[draft]\nencoder_preset = "quick"\n')
    with pytest.raises(ConfigError, match=r"draft\.encoder_preset"):
        load_settings(paths, env={})
