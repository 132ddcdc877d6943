"""The extension's pure modules (no Blender needed), its build, and its copy of the client.

The export is checked the strongest way available outside Blender: OpenTimelineIO reads it
and the daemon's own selection turns it into exactly the source ranges and record frames
the strips stand for.
"""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from kling_bridge.timeline.selection import Criteria, select

from .conftest import ALL_SERIES, ROOT, bpy_cache

sys.path.insert(0, str(ROOT / "plugins"))
from blender_vse import otio_export as ox
from blender_vse import placement, records

NTSC = Fraction(30000, 1001)


def movie(name: str, channel: int, start: int, duration: int, **kw: object) -> ox.StripInfo:
    values: dict[str, object] = {"path": f"/media/{name}.mov", "source_start": 0,
                                 "media_frames": 300, "media_rate": 29.970029830932617}
    values.update(kw)
    return ox.StripInfo(name=name, clip_id=f"id-{name}", channel=channel, kind="MOVIE",
                        start=start, duration=duration, **values)


def test_scene_rates_are_exact() -> None:
    assert ox.exact_rate(30, 1.001) == NTSC
    assert ox.exact_rate(24, 1.001) == Fraction(24000, 1001)
    assert ox.exact_rate(60, 1.001) == Fraction(60000, 1001)
    assert ox.exact_rate(25, 1.0) == 25 and ox.exact_rate(50, 1.0) == 50
    assert ox.exact_rate(24, 1.0) == 24
    assert ox.rate_text(NTSC) == "30000/1001" and ox.rate_text(Fraction(25)) == "25"


def test_export_reads_in_otio_and_selects_like_the_daemon(tmp_path: Path) -> None:
    odd = tmp_path / "take #2 (final).mov"  # '#' and spaces must survive the URL
    odd.write_bytes(b"")
    strips = [
        movie("a", 2, 15, 40, source_start=5, path=str(odd)),
        movie("b", 4, 120, 60, source_start=30, media_frames=None),
        ox.StripInfo(name="voice", clip_id="id-voice", channel=1, kind="SOUND", start=0,
                     duration=50, path="/media/voice.wav"),
        ox.StripInfo(name="card", clip_id="id-card", channel=3, kind="TEXT", start=0,
                     duration=50),
        movie("fast", 5, 0, 20, retimed=True),
        movie("pal", 6, 0, 20, media_rate=25.0, playback="realtime"),
        movie("pal?", 10, 0, 20, media_rate=25.0, playback="unknown"),
        # a 25 fps movie Blender plays frame for frame (50 frames: 60 at 29.97 in OTIO's
        # time), then one at the scene's rate 20 frames after it
        movie("pal 1:1", 11, 100, 50, source_start=7, media_rate=25.0, playback="frames"),
        movie("after", 11, 170, 30, source_start=0),
        movie("held", 7, 0, 20, source_start=-3),
        movie("unsaved", 8, 0, 20, path="//footage/a.mov"),
        movie("moved", 9, 0, 20, missing=True),
    ]
    data, skipped, origin = ox.build_timeline(strips, NTSC, "Edit")
    assert origin == 0
    reasons = dict(skipped)
    assert set(reasons) == {"voice", "card", "fast", "pal", "pal?", "held", "unsaved",
                            "moved"}
    assert "not saved" in reasons["unsaved"] and "Relink" in reasons["moved"]
    assert "sound strip" in reasons["voice"] and "retimed" in reasons["fast"]
    assert "a 25 fps movie played at its own speed in a 29.97 fps scene" in reasons["pal"]
    assert "Adjust Playback Rate" in reasons["pal"] and "frame count" in reasons["pal?"]
    timeline = otio.adapters.read_from_string(json.dumps(data), "otio_json")
    assert [t.name for t in timeline.tracks] == [f"Channel {n}" for n in range(1, 12)]
    assert timeline.metadata["kling_bridge"]["rate"] == "30000/1001"
    selection = select(timeline, Criteria(marked=True))
    got = {ref.clip_id: (ref, source) for ref, source in selection.restyles}
    assert set(got) == {"id-a", "id-b", "id-pal 1:1", "id-after"}
    ref, source = got["id-pal 1:1"]  # its own frames, counted at its own rate
    assert (source.start_frame, source.frame_count, source.rate) == (7, 50, "25")
    assert (ref.track_index, ref.record_start) == (10, 100)
    assert got["id-after"][0].record_start == 170  # the gap took up the difference
    ref, source = got["id-a"]
    assert (ref.track_index, ref.record_start, ref.record_duration) == (1, 15, 40)
    assert ref.timeline_rate == "30000/1001" and source.rate == "30000/1001"
    assert (source.path, source.start_frame, source.frame_count) == (str(odd), 5, 40)
    ref, source = got["id-b"]
    assert (ref.track_index, ref.record_start, source.start_frame) == (3, 120, 30)


def test_strips_before_frame_zero_move_the_origin() -> None:
    data, _skipped, origin = ox.build_timeline([movie("early", 1, -10, 20)], NTSC)
    assert origin == -10
    timeline = otio.adapters.read_from_string(json.dumps(data), "otio_json")
    (ref, _source), = select(timeline, Criteria(marked=True)).restyles
    assert ref.record_start == 0  # positions count from the origin: frame -10 + 0


def test_first_free_channel() -> None:
    busy = [(1, 0, 100), (2, 10, 50), (3, 30, 40), (5, 0, 1000)]
    assert placement.free_channel(busy, 10, 50, above=2) == 4  # 3 overlaps 30-40
    assert placement.free_channel(busy, 50, 60, above=2) == 3  # end frames are exclusive
    assert placement.free_channel(busy, 200, 300) == 1
    assert placement.free_channel(busy, 0, 10, above=4) == 6
    with pytest.raises(ValueError, match="no free channel"):
        placement.free_channel([(c, 0, 10) for c in range(1, 129)], 0, 10)


def test_shots_from_markers() -> None:
    shots, notes = placement.shots_from_markers(
        [(110, "kling: a face"), (0, "wide street"), (50, "her hands")], Fraction(25), 3)
    assert shots == [{"prompt": "wide street", "duration": 2},
                     {"prompt": "her hands", "duration": 2},
                     {"prompt": "a face", "duration": 3}]
    assert notes == ["shot 2 lasts 2 s (the markers are 2.40 s apart): shots are whole "
                     "seconds"]
    with pytest.raises(ValueError, match="has no name"):
        placement.shots_from_markers([(0, " ")], Fraction(25), 3)


def test_price_shown_before_sending() -> None:
    assert placement.price_text({"draft": True, "provider": "draft"}).startswith("draft, free")
    paid = {"paid": True, "provider": "kling", "estimate": {"units": 14, "usd": 1.96}}
    assert placement.price_text(paid) == "about 14 units (US$1.96) on kling"
    assert placement.price_text(dict(paid, estimate={"units": 0, "usd": 0})) == "free"


def _job(state: str) -> dict[str, object]:
    return {"id": "j1", "state": state, "label": "a · noir", "progress": 1.0,
            "spec": {"clip": {"clip_id": "id-a"}}, "estimate": {"usd": 0.5},
            "billed": {"usd": 0.5}, "provider": "kling"}


def test_records_apply_each_job_once_and_survive_an_undo() -> None:
    data = records.empty()
    records.add_batch(data, {"batch_id": "b1", "provider": "kling", "jobs": [_job("queued")]},
                      "restyle", "noir", "25", sources={"id-a": {"start": 1}}, now=5.0)
    assert records.pending(data) == ["b1"]
    assert records.update(data, {"batch_id": "b1", "state": "running",
                                 "jobs": [_job("running")]}) == []
    todo = records.update(data, {"batch_id": "b1", "state": "succeeded",
                                 "jobs": [_job("succeeded")]})
    assert [j["id"] for j in todo] == ["j1"]
    assert records.pending(data) == ["b1"]  # finished, not yet on the timeline
    records.mark_applied(data, "b1", "j1", ["a · noir"])
    assert records.pending(data) == []
    assert records.update(data, {"batch_id": "b1", "state": "succeeded",
                                 "jobs": [_job("succeeded")]}) == []
    stored = records.dump(data)
    assert records.load(stored) == data
    undone = records.empty()
    assert records.merge(undone, data) and records.find(undone, "b1") is not None
    assert not records.merge(undone, data)
    assert records.load("{not json") == records.empty()
    assert records.load(json.dumps({"batches": "x"})) == records.empty()


def test_a_submission_is_recorded_before_it_is_sent_and_becomes_its_batch() -> None:
    data = records.empty()
    body = {"prompt": "rain", "duration": 3}
    pending = records.add_pending(data, "blender:k1", "/generate", body, "generate", "rain",
                                  "25", placement={"frame": 20}, now=7.0)
    assert records.unsent(data) == [pending] and records.pending(data) == []
    assert pending["request"] == {"path": "/generate", "body": body}
    assert [(job_id, job["state"]) for _b, job_id, job in records.jobs_for_list(data)] == [
        ("", "sending")]
    before_answer = records.load(records.dump(data))  # what an undo step may bring back
    answer = {"batch_id": "b7", "provider": "draft", "draft": True, "jobs": [_job("queued")]}
    record = records.add_batch(data, answer, "generate", "rain", "25",
                               placement={"frame": 20}, key="blender:k1")
    assert records.unsent(data) == [] and records.pending(data) == ["b7"]
    assert (record["key"], record["created"], len(data["batches"])) == ("blender:k1", 7.0, 1)
    assert records.merge(before_answer, data)  # the answer wins over the pending record
    assert [b["id"] for b in before_answer["batches"]] == ["b7"]
    records.add_pending(data, "blender:k2", "/restyle", {}, "restyle", "noir", "25")
    records.drop(data, "blender:k2")  # refused: it made nothing
    assert [b["id"] for b in data["batches"]] == ["b7"]


def test_result_names_fit_blender_and_props_say_what_made_them() -> None:
    job = {"id": "j9", "batch_id": "b9", "provider": "draft",
           "spec": {"look": {"preset": "film-noir", "prompt": None}, "variant": 1,
                    "model": "kling-3.0-omni"},
           "billed": {"units": 0, "usd": 0},
           "result": {"outputs": [{"role": "video", "path": "/x.mov", "draft": True}],
                      "metadata": {"draft": True}}}
    name = placement.result_name("é" * 60, job)
    assert len(name.encode("utf-8")) <= 63 and name.endswith(" · film-noir v2")
    props = placement.job_props(job, "restyle")
    assert props["kling_job"] == "j9" and props["kling_draft"] is True
    assert props["kling_preset"] == "film-noir" and props["kling_variant"] == 1


def test_the_shipped_client_is_the_daemons() -> None:
    shipped = ROOT / "plugins" / "blender_vse" / "client.py"
    source = ROOT / "daemon" / "kling_bridge" / "client.py"
    assert filecmp.cmp(shipped, source, shallow=False), (
        "plugins/blender_vse/client.py differs from daemon/kling_bridge/client.py: run "
        "python tools/build_blender_extension.py")
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "build_blender_extension.py"),
                            "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def _validator() -> Path | None:
    for series in ALL_SERIES:
        found = sorted((bpy_cache() / series).glob("lib/python3*/site-packages/bpy/*/scripts/"
                                                   "addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[0]
    return None


def test_the_zip_is_a_valid_extension(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_blender_extension.py"),
                          "--out", str(tmp_path)], capture_output=True, text=True, check=True)
    zip_path = Path(out.stdout.strip())
    assert zip_path.name == "kling_bridge-0.1.0.zip"
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    assert {"blender_manifest.toml", "__init__.py", "client.py", "compat.py"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    validator = _validator()
    if validator is None:
        pytest.skip("no bpy venv holds Blender's extension validator: tools/bpy-venvs.sh")
    # Blender's own `blender --command extension validate` code, run as a script.
    check = subprocess.run([sys.executable, str(validator), "validate", str(zip_path)],
                           capture_output=True, text=True)
    assert check.returncode == 0 and "Success" in check.stdout, check.stdout + check.stderr
