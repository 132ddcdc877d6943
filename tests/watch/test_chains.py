"""The watch folder's chain inboxes, for real: a real watchdog observer on a real folder,
the daemon's engine and chain driver, the offline draft provider rendering with ffmpeg.

An editor without a plugin drops a file into a folder and gets the whole chain back in
``out/``: generate then a look, restyle then B-roll in its look, a next shot, a comparison
of looks with its picture and one ``apply-look/`` folder per look to restyle the rest.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.config import Paths
from kling_bridge.media.facts import header_facts
from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_clip, make_still
from kling_bridge.watch.layout import README, SETTINGS_FILE
from kling_bridge.watch.ledger import Ledger
from tests.chains.small import draft_services

from .conftest import Env, eventually

pytestmark = pytest.mark.asyncio


#: How long a drop must stay unchanged before it is taken. Every drop here arrives whole
#: (written beside, then renamed in: :func:`drop`) and each folder's settings are written
#: before the drop, so nothing waits on a file still being written: the shortest wait
#: the settings allow (the half-written files of test_folder.py keep theirs).
WHOLE = 0.05


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small different clips (320x180, 25 fps, 3.2 s, with sound)."""
    d = tmp_path_factory.mktemp("watch-chain-clips")
    return [make_clip(d / f"A00{n}.mov", width=320, height=180, rate="25", frames=80,
                      crf=30, pattern=pattern, tone_hz=hz)
            for n, pattern, hz in ((1, "testsrc2", 440), (2, "testsrc", 660))]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    """The daemon's services over the draft provider, its chain driver running."""
    paths = Paths.resolve().ensure()
    services = draft_services(paths)
    engine, settings = services.engine, services.settings
    provider = engine.providers["draft"]
    chains = services.chain_driver()
    await engine.start()
    await chains.start()
    made = Env(tmp_path / "Kling Watch", paths, settings, engine, services,
               Ledger(paths.data_dir / "watch.sqlite3"), provider)
    try:
        yield made
    finally:
        await made.stop_watch()
        await chains.stop()
        await engine.stop()
        await provider.aclose()
        engine.store.close()
        made.ledger.close()


def jobs(env: Env) -> list[dict[str, Any]]:
    rows = env.engine.store.read("SELECT id, kind, spec, result FROM jobs ORDER BY id")
    return [{"id": r[0], "kind": r[1], "spec": json.loads(r[2]),
             "result": json.loads(r[3]) if r[3] else None} for r in rows]


def video(job: dict[str, Any]) -> str:
    return str(next(o["path"] for o in job["result"]["outputs"] if o["role"] == "video"))


def chain_states(env: Env) -> list[str]:
    driver = env.services.chain_driver()
    return [c["state"] for b in env.batches() for c in driver.of_batch(b)]


def stems(env: Env) -> list[str]:
    """What out/ holds, by name without the extension (clips keep their container)."""
    return sorted(Path(name).stem for name in env.files("out"))


def settle(env: Env, folder: str, text: str) -> None:
    """The editor's settings for ``folder`` (before the folder is laid out: kept as written)."""
    (env.root / folder).mkdir(parents=True, exist_ok=True)
    (env.root / folder / SETTINGS_FILE).write_text(text)


async def drop(env: Env, src: Path, folder: str, name: str | None = None) -> Path:
    """Copy ``src`` in as an editor's Finder would: written beside, then renamed in."""
    dest = env.root / folder / (name or src.name)
    tmp = dest.with_name(f".{dest.name}.part")
    tmp.write_bytes(src.read_bytes())
    tmp.rename(dest)
    return dest


async def test_the_chain_inboxes_are_laid_out_with_readmes(env: Env) -> None:
    await env.start_watch(stable_seconds=WHOLE)
    for folder in ("generate-then", "generate-then/film-noir", "more-like-this",
                   "more-like-this/watercolor", "next-shot", "compare", "apply-look"):
        assert (env.root / folder / README).read_text().strip(), folder
    root = (env.root / README).read_text()
    for words in ("generate-then/<look>/", "more-like-this/<look>/", "next-shot/",
                  "compare/", "apply-look/<clip> <n> <look>/", "characters = "):
        assert words in root, words
    template = (env.root / SETTINGS_FILE).read_text()
    assert "# broll_prompt = " in template and "# looks = [" in template


async def test_a_prompt_dropped_in_generate_then_film_noir(env: Env, tmp_path: Path) -> None:
    settle(env, "generate-then", 'duration = 3\nresolution = "720p"\n')
    w = await env.start_watch(stable_seconds=WHOLE)
    words = tmp_path / "harbour.txt"
    words.write_text("a harbour at dawn, fishing boats")
    await drop(env, words, "generate-then/film-noir")
    await eventually(lambda: w.stats.done + w.stats.failed == 1, 180, "the chain to end")
    assert w.stats.done == 1, env.events
    assert stems(env) == ["harbour", "harbour.film-noir"]
    gen, restyle = jobs(env)
    assert (gen["kind"], restyle["kind"]) == ("generate", "restyle")
    assert gen["spec"]["prompt"] == "a harbour at dawn, fishing boats"
    assert restyle["spec"]["source"]["path"] == video(gen)  # the generated clip restyled
    assert restyle["spec"]["look"]["preset"] == "film-noir"
    assert len(env.batches()) == 1 and chain_states(env) == ["succeeded"]
    # what out/ holds is what the chain made, frame for frame
    assert (env.root / "out" / "harbour.mp4").read_bytes() == Path(video(gen)).read_bytes()
    v = probe(env.root / "out" / f"harbour.film-noir{Path(video(restyle)).suffix}").video
    assert v is not None and v.frame_count == 72
    assert env.files("processed") == ["generate-then/film-noir/harbour.txt"]


async def test_a_clip_dropped_in_more_like_this_gets_b_roll_in_its_look(
        env: Env, clips: list[Path]) -> None:
    settle(env, "more-like-this/film-noir",
           'broll_prompt = "rooftops"\nbroll_duration = 3\nresolution = "720p"\n')
    w = await env.start_watch(stable_seconds=WHOLE)
    await drop(env, clips[0], "more-like-this/film-noir")
    await eventually(lambda: w.stats.done + w.stats.failed == 1, 180, "the chain to end")
    assert w.stats.done == 1, env.events
    assert stems(env) == ["A001.broll", "A001.film-noir"]
    restyle, broll = jobs(env)
    assert broll["spec"]["feature_video"] == video(restyle)  # fed by the restyled clip
    assert broll["spec"]["prompt"].startswith("Film noir:")  # the look's words...
    assert broll["spec"]["prompt"].endswith(". rooftops")  # ...then the editor's
    b = probe(env.root / "out" / f"A001.broll{Path(video(broll)).suffix}").video
    assert b is not None and b.frame_count == 75  # 3 s at the clip's 25 fps
    assert chain_states(env) == ["succeeded"]


async def test_next_shot_of_a_dropped_clip(env: Env, clips: list[Path]) -> None:
    settle(env, "next-shot", 'prompt = "the camera keeps moving"\nduration = 3\n'
           'resolution = "720p"\n')
    w = await env.start_watch(stable_seconds=WHOLE)
    await drop(env, clips[1], "next-shot")
    await eventually(lambda: w.stats.done + w.stats.failed == 1, 180, "the next shot")
    assert w.stats.done == 1, env.events
    assert stems(env) == ["A002.next-shot"]
    (shot,) = jobs(env)
    assert shot["spec"]["feature_mode"] == "next_shot"
    assert Path(shot["spec"]["feature_video"]).name == "A002.mov"  # the clip, as dropped
    assert shot["spec"]["prompt"] == "the camera keeps moving"
    made = env.root / "out" / f"A002.next-shot{Path(video(shot)).suffix}"
    assert not probe(made).audio  # silent, as Kling's
    assert env.files("processed") == ["next-shot/A002.mov"]


def png_size(path: Path) -> tuple[int, int]:
    """The picture's size from its PNG header, read in-process (the media facts service:
    what ffprobe says, tests/media/test_headers.py, without starting a process)."""
    facts = header_facts(path)
    assert facts.format_name == "png_pipe", facts
    return facts.width, facts.height


async def test_compare_three_looks_then_apply_the_second_to_another_clip(
        env: Env, clips: list[Path]) -> None:
    settle(env, "compare", 'looks = ["film-noir", "watercolor", "golden-hour"]\n'
           'resolution = "720p"\n')
    w = await env.start_watch(stable_seconds=WHOLE)
    await drop(env, clips[0], "compare")
    await eventually(lambda: w.stats.done + w.stats.failed == 1, 240, "the comparison")
    assert w.stats.done == 1, env.events
    assert stems(env) == ["A001.compare", "A001.film-noir", "A001.golden-hour",
                          "A001.watercolor"]
    restyles = jobs(env)
    assert [j["spec"]["look"]["preset"] for j in restyles] == [
        "film-noir", "watercolor", "golden-hour"]
    width, _ = png_size(env.root / "out" / "A001.compare.png")
    assert width == 4 * 320 + 8 * 4  # the source and three looks: 320 pixels and margins
    # one folder per look, numbered as on the picture, naming the look's job
    folders = sorted(p.name for p in (env.root / "apply-look").iterdir() if p.is_dir())
    assert folders == ["A001 1 film-noir", "A001 2 watercolor", "A001 3 golden-hour"]
    pick = env.root / "apply-look" / "A001 2 watercolor"
    assert f'apply_look = "{restyles[1]["id"]}"' in (pick / SETTINGS_FILE).read_text()
    assert "watercolor" in (pick / README).read_text()

    await drop(env, clips[1], "apply-look/A001 2 watercolor")
    await eventually(lambda: w.stats.done + w.stats.failed == 2, 180, "the look applied")
    assert w.stats.done == 2, env.events
    applied = jobs(env)[-1]
    assert applied["spec"]["look"] == restyles[1]["spec"]["look"]
    assert applied["spec"]["source"]["path"].endswith("A002.mov")
    assert "A002.watercolor" in stems(env)
    # a second comparison never rewrites a folder the editor may have edited
    (pick / SETTINGS_FILE).write_text((pick / SETTINGS_FILE).read_text() + "# mine\n")
    await drop(env, clips[0], "compare", "A001 again.mov")  # same content: already done
    await eventually(lambda: w.stats.redropped == 1, 60, "the re-drop")
    assert (pick / SETTINGS_FILE).read_text().endswith("# mine\n")


async def test_characters_set_for_a_folder_go_into_its_generations(
        env: Env, tmp_path: Path) -> None:
    still = make_still(tmp_path / "ada.png", width=320, height=180)
    await env.services.element_register().add("Ada", [str(still)], project="Series 2")
    settle(env, "generate", 'characters = ["Ada"]\nproject = "Series 2"\nduration = 3\n'
           'resolution = "720p"\n')
    w = await env.start_watch(stable_seconds=WHOLE)
    words = tmp_path / "pier.txt"
    words.write_text("Ada on the pier at night")
    await drop(env, words, "generate")
    await eventually(lambda: w.stats.done + w.stats.failed == 1, 180, "the generation")
    assert w.stats.done == 1, env.events
    (gen,) = jobs(env)
    assert gen["spec"]["still_labels"] == ["Ada"]
    (copy,) = gen["spec"]["refer_images"]  # the registered copy, never the editor's file
    assert Path(copy).read_bytes() == still.read_bytes() and Path(copy) != still
    assert stems(env) == ["pier"]


async def test_mistakes_in_the_chain_inboxes_fail_with_what_to_do(
        env: Env, clips: list[Path], tmp_path: Path) -> None:
    settle(env, "generate", 'characters = ["Nobody"]\n')
    w = await env.start_watch(stable_seconds=WHOLE)
    (env.root / "apply-look" / "my look").mkdir()
    await drop(env, clips[0], "apply-look/my look")  # a folder no comparison made
    cut = tmp_path / "cut.otio"
    cut.write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": null}')
    await drop(env, cut, "next-shot")  # a timeline where one clip is asked for
    (env.root / "compare" / SETTINGS_FILE).write_text('looks = ["film-noir", "sepia"]\n')
    await drop(env, clips[1], "compare", "loose.mov")
    words = tmp_path / "ada.txt"
    words.write_text("Nobody on the pier")
    await drop(env, words, "generate")
    await eventually(lambda: w.stats.failed == 4, 60, "four refusals")
    errors = {p: (env.root / "failed" / p).read_text() for p in env.files("failed")
              if p.endswith(".error.txt")}
    assert "apply_look" in errors["apply-look/my look/A001.mov.error.txt"]
    assert "one clip at a time" in errors["next-shot/cut.otio.error.txt"]
    assert "'sepia'" in errors["compare/loose.mov.error.txt"]
    assert "Nobody" in errors["generate/ada.txt.error.txt"]
    assert jobs(env) == []  # nothing made, nothing paid


async def test_a_timeline_in_more_like_this_comes_back_with_its_b_roll_placed(
        env: Env, clips: list[Path], tmp_path: Path) -> None:
    import opentimelineio as otio

    rate = 25
    ref = otio.schema.ExternalReference(
        target_url=clips[0].as_uri(), available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(80, rate)))
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Clip(name="A001", media_reference=ref, source_range=(
        otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                otio.opentime.RationalTime(80, rate)))))
    cut = otio.schema.Timeline(name="cut")
    cut.tracks.append(track)
    src = tmp_path / "cut.otio"
    otio.adapters.write_to_file(cut, str(src))
    settle(env, "more-like-this/film-noir",
           'broll_prompt = "rooftops"\nbroll_duration = 3\nresolution = "720p"\n')
    w = await env.start_watch(stable_seconds=WHOLE)
    await drop(env, src, "more-like-this/film-noir")
    await eventually(lambda: w.stats.done + w.stats.failed == 1, 180, "the chain to end")
    assert w.stats.done == 1, env.events
    restyle, broll = jobs(env)
    assert sorted(env.files("out")) == sorted([
        "cut.kling.otio", f"cut.kling-media/A001.film-noir{Path(video(restyle)).suffix}",
        f"cut.kling-media/A001.broll{Path(video(broll)).suffix}"])
    result = otio.adapters.read_from_file(str(env.root / "out" / "cut.kling.otio"))
    placed = {}
    for clip in result.find_clips():
        meta = dict(clip.metadata.get("kling_bridge") or {})
        if meta.get("job_id"):
            where = clip.range_in_parent()
            placed[meta["job_id"]] = (round(where.start_time.value),
                                      round(where.duration.value), clip.media_reference.target_url)
    assert placed[restyle["id"]][:2] == (0, 80)
    assert placed[broll["id"]][:2] == (80, 75)  # right after the clip, 3 s at 25 fps
    assert "cut.kling-media" in placed[broll["id"]][2]  # linking to the copy in out/
