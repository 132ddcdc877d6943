"""An Avid-style EDL through the whole bridge with real ffmpeg: restyle (draft provider, the
real media pipeline and conform), export into the editor's folder, result EDLs.

Shows, with ffprobe as the judge: each result EDL's source timecode is the rendered file's
own timecode (the conform keeps the source's), its media is the copy in the editor's folder,
and one odd event does not refuse the reel (it is left out with a reason).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kling_bridge.config import Paths, load_settings
from kling_bridge.inprocess import InProcessDaemon
from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_clip
from kling_bridge.providers.draft import DraftProvider
from kling_bridge.specs import InputLimits
from kling_bridge.timeline import read_timeline
from kling_bridge.timeline.results import new_clips
from tests.providers.kling_engine import fast_pipeline

pytestmark = pytest.mark.slow

EVENT = re.compile(r"^(\d{3})\s+(\S+)\s+(\S+)\s+C\s+(\S+) (\S+) (\S+) (\S+)\s*$")


def _edl(camera: Path) -> str:
    return (
        "TITLE: REEL 1\nFCM: NON-DROP FRAME\n\n"
        "001  A001     V     C        10:00:01:00 10:00:02:00 01:00:00:00 01:00:01:00\n"
        f"* FROM CLIP NAME:  A001 take 1\n* FROM CLIP: {camera}\n"
        "002  A001     V     C        10:00:02:10 10:00:03:10 01:00:01:00 01:00:02:00\n"
        f"* FROM CLIP NAME:  A001 take 2\n* FROM CLIP: {camera}\n"
        "003  A001     V     C        10:00:00:00 10:00:01:00 01:00:02:00 01:00:04:00\n"
        f"* FROM CLIP NAME:  A001 odd\n* FROM CLIP: {camera}\n"
    )


def test_edl_results_carry_the_rendered_files_timecode(tmp_path: Path) -> None:
    camera = make_clip(tmp_path / "camera roll" / "A001.mov", frames=100, rate="25",
                       timecode="10:00:00:00", width=320, height=180)
    edl = tmp_path / "cut" / "reel 1.edl"
    edl.parent.mkdir()
    edl.write_text(_edl(camera))
    before = edl.read_bytes()
    out = tmp_path / "editor's results"
    settings = load_settings(overrides={"provider": "draft"})
    paths = Paths.resolve().ensure()
    # Timecode and export are the point, not pixels: small fitting limits and fast encoders
    # (the daemon's own pipeline and draft provider, turned down as in test_output_names: drafts
    # 180 pixels high, the source's size, not Kling's 720).
    draft = DraftProvider(paths, encoder_preset="ultrafast", short_side=180)
    draft.limits = InputLimits(side_min=100, video_min_seconds=0.4)
    with InProcessDaemon(settings, paths, providers={"draft": draft},
                         pipeline=fast_pipeline(paths),
                         poll_intervals={"draft": (0.05, 0.2)}) as client:
        answer = client.restyle({"timeline_path": str(edl), "select": {"mode": "all",
                                 "handles": 0}, "look": {"preset": "film-noir"},
                                 "resolution": "720p", "provider": "draft"})
        assert len(answer["jobs"]) == 2
        assert any("event 003 left out" in n for n in answer["notes"]), answer["notes"]
        final = client.wait_batch(answer["batch_id"], interval=0.3, timeout=300)
        assert {j["state"] for j in final["jobs"]} == {"succeeded"}
        done = client.export_batch(answer["batch_id"], str(out))
    assert edl.read_bytes() == before  # the editor's EDL is never touched
    (written,) = done["timelines"]
    assert written["path"] == str(out / "reel 1.kling.film-noir.edl")
    assert written["track"] == "film-noir"
    text = Path(written["path"]).read_text()
    assert text.startswith("TITLE: REEL 1 - film-noir\nFCM: NON-DROP FRAME\n")
    events = [EVENT.match(line) for line in text.splitlines() if line[:3].isdigit()]
    assert len(events) == 2 and all(events)
    copies = {f["path"] for f in done["files"] if f["role"] == "video"}
    media = re.findall(r"^\* FROM CLIP: (.*)$", text, re.MULTILINE)
    assert set(media) == copies and all(Path(m).parent == out for m in media)
    for event, path in zip(events, media, strict=True):
        assert event is not None
        info = probe(path)  # what ffprobe says the rendered copy's first timecode is
        assert info.timecode == event.group(4)
    assert [e.group(4) for e in events if e] == ["10:00:01:00", "10:00:02:10"]
    assert [e.group(6) for e in events if e] == ["01:00:00:00", "01:00:01:00"]
    assert "* KLING: Kling O3 · film-noir · draft · job " in text
    # read back: the new clips with their provenance, at the record timecodes of their sources
    again = read_timeline(Path(written["path"]))
    clips = new_clips(again.timeline)
    assert {c.metadata["kling_bridge"]["job_id"] for c in clips} == {
        j["id"] for j in final["jobs"]}
    assert all(c.metadata["kling_bridge"]["draft"] is True for c in clips)
