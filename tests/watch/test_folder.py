"""The watch folder with real files, a real watchdog observer and the real job engine.

The provider is the fake that stands for Kling's servers (durable, counts every task it is
asked to create); jobs go through the engine exactly as the API's do.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest

from kling_bridge.watch.layout import README, SETTINGS_FILE

from .conftest import Env, eventually

pytestmark = pytest.mark.asyncio


def job_prompts(env: Env) -> list[str]:
    rows = env.engine.store.read("SELECT spec FROM jobs ORDER BY id")
    return [json.loads(r[0]).get("prompt", "") for r in rows]


async def test_new_folder_is_laid_out_with_readmes(make_env) -> None:
    env = await make_env()
    await env.start_watch()
    for folder in ("", "restyle", "restyle/film-noir", "restyle/watercolor", "generate",
                   "processing", "out", "processed", "failed"):
        readme = env.root / folder / README
        assert readme.is_file() and readme.read_text().strip(), folder
    assert "restyle/<look>/" in (env.root / README).read_text()
    assert "# budget_units" in (env.root / SETTINGS_FILE).read_text()
    (env.root / README).write_text("my notes")  # the editor's edits survive a restart
    await env.stop_watch()
    await env.start_watch()
    assert (env.root / README).read_text() == "my notes"


async def test_a_slowly_written_file_is_taken_only_when_complete(make_env) -> None:
    env = await make_env()
    w = await env.start_watch(stable_seconds=0.5)
    words = [f"word{n}" for n in range(12)]
    target = env.root / "generate" / "slow.txt"
    finished = threading.Event()

    def write_slowly() -> None:  # a copy over a slow link: a chunk every 0.25 s for 3 s
        with target.open("w") as fh:
            for word in words:
                fh.write(word + " ")
                fh.flush()
                os.fsync(fh.fileno())
                time.sleep(0.25)
        finished.set()

    writer = threading.Thread(target=write_slowly)
    writer.start()
    await asyncio.to_thread(writer.join)
    done_writing = time.monotonic()
    await eventually(lambda: w.stats.done == 1, 20, "the slow file to be done")
    assert job_prompts(env) == [" ".join(words)]  # the whole text, in one job
    assert len(env.batches()) == 1
    assert w.stats.queued_at["generate/slow.txt"] >= done_writing + 0.5 - 0.05
    assert env.files("processed") == ["generate/slow.txt"]


async def test_500_files_dropped_at_once_are_each_processed_exactly_once(make_env) -> None:
    env = await make_env(concurrency=32)
    w = await env.start_watch(stable_seconds=0.3)
    inbox = env.root / "generate"
    prompts = {f"shot {n:03d}": f"a lighthouse at dusk, take {n}" for n in range(500)}

    def drop() -> None:
        for name, words in prompts.items():
            (inbox / f"{name}.txt").write_text(words)

    await asyncio.to_thread(drop)
    await eventually(lambda: w.stats.done == 500, 180, "500 drops to be done")
    await w.wait_idle(timeout=30, settle=0.5)
    assert sorted(job_prompts(env)) == sorted(prompts.values())
    assert len(env.batches()) == 500
    created = env.provider.created()
    assert len(created) == 500 and set(created.values()) == {1}
    assert env.files("processed") == sorted(f"generate/{n}.txt" for n in prompts)
    assert len(env.files("out")) == 500
    assert env.files("generate") == [] and env.files("processing") == []
    assert env.files("failed") == [] and w.stats.failed == 0 and w.stats.redropped == 0


async def test_files_present_before_start_are_taken(make_env) -> None:
    env = await make_env()
    (env.root / "generate").mkdir(parents=True)
    (env.root / "generate" / "early.txt").write_text("waiting since yesterday")
    w = await env.start_watch()
    await eventually(lambda: w.stats.done == 1, 20)
    assert job_prompts(env) == ["waiting since yesterday"]


async def test_a_redropped_file_or_a_copy_is_recognised_not_redone(make_env) -> None:
    env = await make_env()
    w = await env.start_watch()
    inbox = env.root / "generate"
    (inbox / "rain.txt").write_text("rain on a tin roof")
    await eventually(lambda: w.stats.done == 1, 20)
    first_out = env.files("out")
    (inbox / "rain.txt").write_text("rain on a tin roof")  # the same file again
    (inbox / "rain copy.txt").write_text("rain on a tin roof")  # a copy, another name
    await eventually(lambda: w.stats.redropped == 2, 20)
    assert len(env.batches()) == 1 and env.provider.created().__len__() == 1
    assert env.files("out") == first_out
    assert env.files("processed") == ["generate/rain copy.txt", "generate/rain-2.txt",
                                      "generate/rain.txt"]
    assert any(what == "already done" and "rain.txt" in text for what, text in env.events)
    # The results went missing from out/: a re-drop puts them back, still without new work.
    for name in first_out:
        (env.root / "out" / name).unlink()
    (inbox / "rain.txt").write_text("rain on a tin roof")
    await eventually(lambda: w.stats.redropped == 3, 20)
    assert env.files("out") == first_out and len(env.batches()) == 1
    # Other settings make it new work.
    (inbox / SETTINGS_FILE).write_text("variants = 2\n")
    (inbox / "rain.txt").write_text("rain on a tin roof")
    await eventually(lambda: w.stats.done == 2, 20)
    assert len(env.batches()) == 2


async def test_broken_drops_land_in_failed_with_a_readable_reason(make_env) -> None:
    env = await make_env()
    w = await env.start_watch()
    noir = env.root / "restyle" / "film-noir"
    (noir / "corrupt.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + os.urandom(4000))
    (noir / "notes.pdf").write_bytes(b"%PDF-1.4")
    (env.root / "generate" / "empty.txt").write_text("\n")
    (env.root / "generate" / "bad.json").write_text('{"prompt": "x", "duration": 40}')
    (env.root / "restyle" / "loose.mov").write_bytes(b"not even a movie")
    await eventually(lambda: w.stats.failed == 5, 30, "five failures")
    assert env.batches() == []
    failed = env.files("failed")
    assert set(failed) == {
        "restyle/film-noir/corrupt.mov", "restyle/film-noir/corrupt.mov.error.txt",
        "restyle/film-noir/notes.pdf", "restyle/film-noir/notes.pdf.error.txt",
        "generate/empty.txt", "generate/empty.txt.error.txt",
        "generate/bad.json", "generate/bad.json.error.txt",
        "restyle/loose.mov", "restyle/loose.mov.error.txt"}

    def reason(name: str) -> str:
        return (env.root / "failed" / f"{name}.error.txt").read_text()

    corrupt = reason("restyle/film-noir/corrupt.mov")
    assert corrupt.startswith("corrupt.mov could not be done.")
    assert "What was wrong:" in corrupt and "What to do:" in corrupt
    assert "restyle/film-noir/" in corrupt
    assert "pdf is neither" in reason("restyle/film-noir/notes.pdf")
    assert "empty" in reason("generate/empty.txt")
    assert "duration" in reason("generate/bad.json") and "15" in reason("generate/bad.json")
    assert "look's folder" in reason("restyle/loose.mov")
    # The sources are kept byte for byte.
    assert (env.root / "failed/restyle/film-noir/notes.pdf").read_bytes() == b"%PDF-1.4"


async def test_a_bad_settings_file_fails_only_what_it_governs(make_env) -> None:
    env = await make_env()
    w = await env.start_watch()
    (env.root / "restyle" / "film-noir" / SETTINGS_FILE).write_text("resolutoin = '720p'\n")
    (env.root / "restyle" / "film-noir" / "a.mov").write_bytes(b"x")
    (env.root / "generate" / "fine.txt").write_text("fine")
    await eventually(lambda: w.stats.failed == 1 and w.stats.done == 1, 20)
    text = (env.root / "failed/restyle/film-noir/a.mov.error.txt").read_text()
    assert "resolutoin is not a setting" in text and SETTINGS_FILE in text


async def test_a_drop_over_the_folder_budget_fails_before_anything_is_paid(make_env) -> None:
    env = await make_env(paid=True)
    w = await env.start_watch()
    (env.root / "generate" / SETTINGS_FILE).write_text("budget_units = 4\n")
    (env.root / "generate" / "long.toml").write_text('prompt = "a long shot"\nduration = 10\n')
    (env.root / "generate" / "short.toml").write_text('prompt = "a short shot"\nduration = 3\n')
    await eventually(lambda: w.stats.failed == 1 and w.stats.done == 1, 20)
    text = (env.root / "failed/generate/long.toml.error.txt").read_text()
    assert "about 10 units" in text and "budget of 4 units" in text
    assert "nothing was sent or paid" in text
    assert job_prompts(env) == ["a short shot"]
    assert len(env.provider.attempts()) == 1  # only the short one ever reached the provider


async def test_polling_observer_and_rescan_catch_what_events_miss(make_env) -> None:
    env = await make_env()
    w = await env.start_watch(polling=True)
    assert w.observer_kind == "PollingObserver"
    (env.root / "generate" / "polled.txt").write_text("seen by polling")
    await eventually(lambda: w.stats.done == 1, 20)
    await env.stop_watch()
    w = await env.start_watch(rescan_seconds=0.5)
    assert w.observer_kind != "PollingObserver"
    assert w._marks is not None
    w._marks.add = lambda paths: None  # the observer's events are lost (a buffer overflow)
    (env.root / "generate" / "missed.txt").write_text("found by the rescan")
    await eventually(lambda: w.stats.done == 1, 20)
    assert sorted(job_prompts(env)) == ["found by the rescan", "seen by polling"]


async def test_image_with_its_prompt_is_one_item(make_env) -> None:
    env = await make_env()
    w = await env.start_watch()
    from kling_bridge.media.synth import make_still

    gen = env.root / "generate"
    await asyncio.to_thread(make_still, gen / "hero.png")
    (gen / "hero.txt").write_text("she turns to the camera")
    await eventually(lambda: w.stats.done == 1, 20)
    rows = env.engine.store.read("SELECT spec FROM jobs")
    spec = json.loads(rows[0][0])
    assert spec["prompt"] == "she turns to the camera"
    assert spec["image"].endswith("processing/generate/hero.png")
    assert env.files("processed") == ["generate/hero.png", "generate/hero.txt"]


async def test_a_lost_submit_answer_is_asked_again_and_finds_the_same_batch(make_env) -> None:
    """The daemon made the batch but its answer never arrived (a dropped connection, a crash
    before the ledger write): asking again with the same idempotency key must not make a
    second batch."""
    from kling_bridge.watch.bridge import InProcessBridge, Unavailable

    env = await make_env()

    class LosesFirstAnswer(InProcessBridge):
        lost = 0

        async def submit(self, verb, body):
            answer = await super().submit(verb, body)
            if not body.get("dry_run") and not self.lost:
                LosesFirstAnswer.lost += 1
                raise Unavailable("connection reset after the batch was created")
            return answer

    from kling_bridge.watch.service import WatchService

    w = WatchService(env.root, LosesFirstAnswer(env.services), env.ledger,
                     stable_seconds=0.2, poll_seconds=0.2)
    env.watch = w
    await w.start()
    (env.root / "generate" / "once.txt").write_text("only once")
    await eventually(lambda: w.stats.done == 1, 20)
    assert LosesFirstAnswer.lost == 1
    assert len(env.batches()) == 1 and job_prompts(env) == ["only once"]


FCPXML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.8">
    <resources>
        <format id="r1" name="FFVideoFormat1080p25" frameDuration="100/2500s" width="1920"
                height="1080"/>
        <asset id="r2" name="beach" src="MEDIA_URL" start="0s" duration="8s" hasVideo="1"
               format="r1"/>
    </resources>
    <library>
        <event name="Day 1">
            <project name="Beach cut">
                <sequence format="r1" duration="4s" tcStart="0s" tcFormat="NDF">
                    <spine>
                        <asset-clip name="beach" ref="r2" offset="0s" start="1s" duration="4s"
                                    format="r1"/>
                    </spine>
                </sequence>
            </project>
        </event>
    </library>
</fcpxml>
"""


async def test_a_bundle_written_file_by_file_is_one_item_taken_when_complete(
        make_env, tmp_path: Path) -> None:
    """A Final Cut .fcpxmld is a folder: its files arrive one by one, it is one drop."""
    env = await make_env()
    w = await env.start_watch(stable_seconds=0.5)
    media = tmp_path / "beach.mov"
    media.write_bytes(b"stand-in")  # the fake pipeline does not read media
    bundle = env.root / "restyle" / "film-noir" / "Beach cut.fcpxmld"
    bundle.mkdir()
    (bundle / "Assets").mkdir()
    (bundle / "Assets" / "notes.plist").write_text("<plist/>")
    await asyncio.sleep(0.3)  # the next file comes later, inside the window
    text = FCPXML.replace("MEDIA_URL", media.as_uri())
    with (bundle / "Info.fcpxml").open("w") as fh:
        for line in text.splitlines(keepends=True):
            fh.write(line)
            fh.flush()
            await asyncio.sleep(0.02)
    await eventually(lambda: w.stats.done + w.stats.failed == 1, 30)
    assert w.stats.done == 1, env.events
    assert len(env.batches()) == 1
    rows = env.engine.store.read("SELECT spec FROM jobs")
    assert [json.loads(r[0])["source"]["frame_count"] for r in rows] == [100]  # the whole cut
    assert (env.root / "processed/restyle/film-noir/Beach cut.fcpxmld/Info.fcpxml").is_file()
    result = env.root / "out" / "Beach cut.kling.fcpxmld"
    assert (result / "Info.fcpxml").is_file()
    assert "Beach cut.kling-media" in (result / "Info.fcpxml").read_text().replace("%20", " ")


async def test_same_names_from_different_folders_get_their_own_results(make_env) -> None:
    env = await make_env(delay=0.5)  # the three finish together: names are chosen at once
    w = await env.start_watch()
    for day in ("day 1", "day 2", "day 3"):
        (env.root / "generate" / day).mkdir(parents=True)
        (env.root / "generate" / day / "opening.txt").write_text(f"sunrise over the bay, {day}")
    await eventually(lambda: w.stats.done == 3, 20)
    assert env.files("out") == ["opening-2.mp4", "opening-3.mp4", "opening.mp4"]
    contents = {(env.root / "out" / n).read_text() for n in env.files("out")}
    assert len(contents) == 3  # three results, none written over another
    assert env.files("processed") == [f"generate/day {n}/opening.txt" for n in (1, 2, 3)]
