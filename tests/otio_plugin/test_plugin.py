"""The OTIO plugin, exercised the way users meet it: OTIO's own command-line tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from kling_bridge.timeline import write_timeline
from kling_bridge.timeline.paths import path_from_url
from kling_bridge.timeline.results import apply_results
from kling_bridge.timeline.selection import Criteria, select
from tests.timeline.builders import build
from tests.timeline.helpers import results_for

BIN = Path(sys.executable).parent
SAMPLES = Path(__file__).resolve().parents[2] / "tests" / "samples"


def otio_tool(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "could not load plugin" not in done.stderr, done.stderr
    return done.stdout


def otiocat(path: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(otio_tool("otiocat", str(path), *extra, env=env))
    return data


def _load(data: dict[str, Any]) -> otio.schema.Timeline:
    timeline: otio.schema.Timeline = otio.adapters.otio_json.read_from_string(json.dumps(data))
    return timeline


def _jobs(timeline: otio.schema.Timeline) -> dict[str, otio.schema.Clip]:
    return {c.metadata["kling_bridge"]["job_id"]: c for c in timeline.find_clips()
            if "job_id" in c.metadata.get("kling_bridge", {})}


@pytest.fixture(scope="session")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("movie") / "result.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=64x36:rate=24:duration=1", "-c:v", "libx264", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def _result_timeline(label: str, out_dir: Path, movie: Path | None = None,
                     **criteria: Any) -> tuple[otio.schema.Timeline, list[Any]]:
    built = build(label)
    selection = select(built.timeline, Criteria(**criteria))
    results = results_for(selection, out_dir=str(out_dir))
    if movie is not None:  # outputs in a folder per job, as the bridge stores them
        placed = []
        for result in results:
            target = out_dir / result.job_id / Path(result.path).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(movie, target)
            placed.append(result.__class__(**{**result.__dict__, "path": str(target)}))
        results = placed
    return apply_results(built.timeline, results), results


def test_plugin_is_registered_through_the_entry_point() -> None:
    info = otio_tool("otiopluginfo")
    for name in ("kling_bridge_relink", "kling_bridge_post_read", "kling_bridge_pre_write",
                 "kling_bridge_post_write", "fcpx_xml_exact"):
        assert name in info
    assert "kling_bridge_otio/plugin_manifest.json" in info


def test_plugin_loads_without_the_daemons_heavy_modules() -> None:
    code = ("import sys, kling_bridge_otio.hooks, kling_bridge_otio.linker, "
            "kling_bridge.timeline.formats, kling_bridge.timeline.selection, "
            "kling_bridge.timeline.results\n"
            "heavy = [m for m in ('pydantic', 'aiohttp', 'kling_bridge.jobs', 'kling_bridge.api',"
            " 'kling_bridge.providers', 'kling_bridge.media', 'kling_bridge.config', 'boto3')"
            " if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_otiocat_normalises_an_avid_edl() -> None:
    data = otiocat(SAMPLES / "avid_example.edl")
    assert data["global_start_time"]["value"] == 86243  # 00:59:53:11
    assert data["tracks"]["children"][0]["source_range"] is None
    raw = otiocat(SAMPLES / "avid_example.edl", "-H", "kling_bridge=False")
    assert raw["tracks"]["children"][0]["source_range"]["start_time"]["value"] == -86243


def test_provenance_survives_fcp_xml_through_otioconvert(tmp_path: Path) -> None:
    result, results = _result_timeline("25", tmp_path / "out", all_clips=True)
    source = write_timeline(result, tmp_path / "result.otio")
    otio_tool("otioconvert", "-i", str(source), "-o", str(tmp_path / "result.xml"))
    text = (tmp_path / "result.xml").read_text()
    # FCP 7 XML drops free metadata: the record travels as a clip's log note, in words
    assert "<lognote>job_id: job-film-noir-0-0; kind: restyle;" in text
    assert "Kling O3 · film-noir · draft · job job-film…" in text
    again = _load(otiocat(tmp_path / "result.xml"))
    jobs = _jobs(again)
    assert set(jobs) == {r.job_id for r in results}
    assert jobs["job-film-noir-0-0"].metadata["kling_bridge"]["source_clip_id"] == "res-a001"
    assert not [m for c in jobs.values() for m in c.markers if m.name.startswith("kling_bridge")]
    # the caller's timeline was not changed by the write hook
    assert not [m for c in result.find_clips() for m in c.markers
                if m.name.startswith("kling_bridge")]


def test_edl_through_otioconvert_keeps_start_reels_and_provenance(tmp_path: Path) -> None:
    result, results = _result_timeline("29.97DF", tmp_path / "out dir", tracks=("Video 1",),
                                       generations=False)
    source = write_timeline(result, tmp_path / "result.otio")
    look = [t.name for t in result.tracks].index("film-noir")
    otio_tool("otioconvert", "-i", str(source), "-o", str(tmp_path / "look.edl"), "-T", str(look))
    text = (tmp_path / "look.edl").read_text()
    assert "FCM: DROP FRAME" in text
    events = [line.split() for line in text.splitlines() if line[:3].isdigit()]
    assert [e[-2] for e in events] == ["01:00:00;00", "01:00:02;00"]
    assert all(len(e) == 8 for e in events)  # reel names without spaces keep 8 fields
    again = _load(otiocat(tmp_path / "look.edl", "-a", f"rate={30000 / 1001}"))
    assert set(_jobs(again)) == {r.job_id for r in results}


def test_fcpxml_at_23976_through_otioconvert(tmp_path: Path) -> None:
    timeline = otio.schema.Timeline(name="ntsc", global_start_time=otio.opentime.RationalTime(
        86400, 24000 / 1001))
    track = otio.schema.Track(name="V1")
    rate = 24000 / 1001
    track.append(otio.schema.Clip(
        name="A001", source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(86410, rate), otio.opentime.RationalTime(48, rate)),
        media_reference=otio.schema.ExternalReference(
            target_url="/m/A001 #1.mov", available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(86400, rate), otio.opentime.RationalTime(400, rate)))))
    timeline.tracks.append(track)
    source = write_timeline(timeline, tmp_path / "ntsc.otio")
    otio_tool("otioconvert", "-i", str(source), "-o", str(tmp_path / "ntsc.fcpxml"))
    text = (tmp_path / "ntsc.fcpxml").read_text()
    assert 'frameDuration="1001/24000s"' in text and 'frameDuration=""' not in text
    assert "A001%20%231.mov" in text
    # reading it back exactly takes the plugin's adapter (the stock reader says 23 fps)
    otio_tool("otioconvert", "-i", str(tmp_path / "ntsc.fcpxml"), "-I", "fcpx_xml_exact",
              "-o", str(tmp_path / "back.otio"))
    again = _load(json.loads((tmp_path / "back.otio").read_text()))
    clip = again.find_clips()[0]
    assert clip.source_range.start_time.value == 86410
    assert clip.source_range.duration.rate == pytest.approx(rate)
    assert again.global_start_time.value == 86400


def test_exact_fcpxml_adapter_writes_multi_track_ntsc(tmp_path: Path) -> None:
    """Connected clips at 29.97: the stock writer's integer maths misplaces them."""
    result, results = _result_timeline("29.97NDF", tmp_path / "out", all_clips=True)
    source = write_timeline(result, tmp_path / "result.otio")
    otio_tool("otioconvert", "-i", str(source), "-o", str(tmp_path / "r.fcpxml"),
              "-O", "fcpx_xml_exact")
    otio_tool("otioconvert", "-i", str(tmp_path / "r.fcpxml"), "-I", "fcpx_xml_exact",
              "-o", str(tmp_path / "back.otio"))
    again = _load(json.loads((tmp_path / "back.otio").read_text()))
    assert again.global_start_time.value == 108000
    jobs = _jobs(again)
    assert set(jobs) == {r.job_id for r in results}
    for result_clip in results:
        if result_clip.kind == "restyle":
            placed = jobs[result_clip.job_id].range_in_parent()
            assert placed.start_time.value == result_clip.clip.record_start
            assert placed.duration.value == result_clip.clip.record_duration


def test_linker_relinks_moved_outputs_by_job_id(tmp_path: Path, movie: Path) -> None:
    made_here = tmp_path / "machine A" / "outputs"
    result, _results = _result_timeline("24", made_here, movie, all_clips=True,
                                       generations=False)
    source = write_timeline(result, tmp_path / "result.otio")
    moved = tmp_path / "machine B" / "kling outputs #2"
    moved.parent.mkdir()
    shutil.move(str(made_here), str(moved))
    relinked_path = tmp_path / "relinked.otio"
    otio_tool("otioconvert", "-i", str(source), "-o", str(relinked_path), "-m",
              "kling_bridge_relink", "-M", f"search_paths={moved}")
    relinked = _load(json.loads(relinked_path.read_text()))
    for job, clip in _jobs(relinked).items():
        local = path_from_url(clip.media_reference.target_url)
        assert local is not None
        assert local == str(moved / job / Path(local).name)
        assert Path(local).is_file()
    a001 = next(c for c in relinked.tracks[0] if c.name == "A001")
    assert a001.active_media_reference_key == "DEFAULT_MEDIA"
    # the editor's own media (which does not exist here) is left as it was
    assert a001.media_reference.target_url == result.tracks[0][0].media_reference.target_url


def test_linker_finds_outputs_in_the_bridge_home_by_default(
    tmp_path: Path, movie: Path, bridge_home: Path
) -> None:
    outputs = bridge_home / "data" / "outputs"
    result, _results = _result_timeline("25", tmp_path / "gone", movie, all_clips=True,
                                        generations=False)
    shutil.move(str(tmp_path / "gone"), str(outputs))
    source = write_timeline(result, tmp_path / "result.otio")
    data = otiocat(source, env={"OTIO_DEFAULT_MEDIA_LINKER": "kling_bridge_relink"})
    for clip in _jobs(_load(data)).values():
        assert str(path_from_url(clip.media_reference.target_url)).startswith(str(outputs))


def test_linker_leaves_other_clips_and_live_files_alone(tmp_path: Path, movie: Path) -> None:
    from kling_bridge_otio.linker import relink_timeline

    result, _ = _result_timeline("24", tmp_path / "out", movie, all_clips=True,
                                 generations=False)
    before = otio.adapters.otio_json.write_to_string(result)
    again = relink_timeline(result, [str(tmp_path)])
    assert otio.adapters.otio_json.write_to_string(again) == before  # nothing was missing
    assert otio.adapters.otio_json.write_to_string(result) == before  # input untouched
