"""The README's first command: ``kling-bridge demo`` works offline and says where things are."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import opentimelineio as otio
import pytest

from kling_bridge import demo
from kling_bridge.cli import main
from kling_bridge.demo import _fresh_folder
from kling_bridge.media.preview import render_preview
from kling_bridge.media.probe import probe
from tests.chains.small import daemons_render_small

pytestmark = pytest.mark.slow


def test_demo_restyles_shot_two_and_places_broll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's own footage, timeline and preview at full size; its daemon's drafts small
    # (what the demo shows is where results land, not the drafts' size), and the preview's
    # encoder turned down as everywhere in the tests (same size, rate and streams; ~3 s of
    # CPU less than veryfast at 1280x720).
    daemons_render_small(monkeypatch)
    monkeypatch.setattr(demo, "render_preview", partial(render_preview, preset="ultrafast"))
    assert main(["demo", "--out", str(tmp_path / "demo"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("result_timeline", "preview", "before_after", "broll", "source_timeline"):
        assert Path(report[key]).is_file(), key
    assert {j["state"] for j in report["jobs"]} == {"succeeded"}
    source = otio.adapters.read_from_file(report["source_timeline"])
    result = otio.adapters.read_from_file(report["result_timeline"])
    # The original cut is untouched...
    original = result.video_tracks()[0]
    assert [c.name for c in original.find_clips()] == [c.name for c in source.find_clips()]
    for before, after in zip(source.find_clips(), original.find_clips(), strict=True):
        assert before.source_range == after.source_range
    # ...the restyle sits exactly over shot 2, and the B-roll is on its own track.
    shot2 = source.video_tracks()[0][1]
    noir = next(t for t in result.video_tracks() if t.name == "film-noir")
    (restyled,) = list(noir.find_clips())
    assert restyled.range_in_parent() == shot2.range_in_parent()
    assert restyled.metadata["kling_bridge"]["draft"] is True
    broll_tracks = [t for t in result.video_tracks() if t.name not in ("V1", "film-noir")]
    assert len(broll_tracks) == 1 and len(list(broll_tracks[0].find_clips())) == 1
    # Every result is in the demo's folder, and the result timeline points at the copies.
    folder = Path(report["folder"])
    for key in ("restyled", "broll", "before_after"):
        assert Path(report[key]).parent == folder / "results", key
    assert ".draft." in Path(report["restyled"]).name
    for clip in [restyled, *broll_tracks[0].find_clips()]:
        assert Path(clip.media_reference.target_url.removeprefix("file://")).parent == \
            folder / "results"
    # The B-roll is at the timeline's 25 fps and ends where its 5 s marker ends.
    broll = probe(report["broll"])
    assert broll.video is not None and broll.video.rate == 25
    assert broll.video.frame_count == 125
    (placed,) = broll_tracks[0].find_clips()
    assert placed.range_in_parent().duration.rescaled_to(25).value == 125
    info = probe(report["preview"])
    assert info.video is not None and (info.video.width, info.video.height) == (1280, 720)
    assert info.video.rate == 25 and info.audio is not None
    sheet = probe(report["before_after"], require_video=False)
    assert sheet.video is not None and sheet.video.width > sheet.video.height
    # A second run never writes over the first: it is given the next free sibling (the
    # rule run_demo applies before writing anything; a second full render would double
    # the suite's longest test for one folder name).
    first = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert _fresh_folder(tmp_path / "demo") == tmp_path / "demo-2"
    (tmp_path / "demo-2").mkdir()
    (tmp_path / "demo-2" / "x").touch()
    assert _fresh_folder(tmp_path / "demo") == tmp_path / "demo-3"
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == first
