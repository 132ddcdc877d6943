"""The watch folder's pure rules: names, items, readiness, settings, requests, mounts, names
of results. No disk, no clock, no daemon (mover's no-clobber moves use a tmp folder)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from kling_bridge.watch.items import Candidate, Kind, group, ignored
from kling_bridge.watch.layout import GENERATE, RESTYLE, Misplaced, Route, route_of
from kling_bridge.watch.mounts import (
    fs_type_of,
    is_network_type,
    parse_mount_output,
    parse_proc_mounts,
)
from kling_bridge.watch.mover import move_new, place_copy, versioned
from kling_bridge.watch.readiness import Signature, Stability
from kling_bridge.watch.requests import ItemProblem, request_for
from kling_bridge.watch.results import plan_results
from kling_bridge.watch.settings import (
    FolderSettings,
    SettingsProblem,
    fingerprint,
    merge,
    parse_settings_text,
    select_body,
)

NOIR = Route(RESTYLE, "film-noir")
GEN = Route(GENERATE)


@pytest.mark.parametrize("name", [
    ".DS_Store", "._clip.mov", "clip.mov.part", "clip.mov.crdownload", "clip.MOV.TMP",
    "~$cut.xml", "Thumbs.db", "README.txt", "kling-bridge.toml", "clip.mov.error.txt",
    "render.mov.download", "clip.mov~",
])
def test_partial_hidden_and_own_files_are_never_items(name: str) -> None:
    assert ignored(name)


def test_real_names_are_items() -> None:
    assert not any(ignored(n) for n in ("clip.mov", "my cut.fcpxmld", "rain.txt", "A001.MXF"))


def test_routes() -> None:
    assert route_of(PurePosixPath("restyle/film-noir/a.mov")) == NOIR
    assert route_of(PurePosixPath("restyle/film-noir/day 1/a.mov")) == NOIR
    assert route_of(PurePosixPath("generate/a.txt")) == GEN
    assert isinstance(route_of(PurePosixPath("restyle/a.mov")), Misplaced)
    assert route_of(PurePosixPath("out/a.mp4")) is None


def test_items_in_a_folder() -> None:
    entries = [("clip.mov", False), ("cut.fcpxmld", True), ("shots", False),
               ("cut.xml", False), ("notes.pdf", False), ("day2", True), (".x.mov", False)]
    found = {c.name: c.kind for c in group(NOIR, entries)}
    assert found == {"clip.mov": Kind.CLIP, "cut.fcpxmld": Kind.TIMELINE, "cut.xml": Kind.TIMELINE,
                     "notes.pdf": Kind.UNSUPPORTED, "shots": Kind.UNSUPPORTED}


def test_an_image_and_its_prompt_are_one_item() -> None:
    entries = [("hero.png", False), ("hero.txt", False), ("rain.txt", False),
               ("city.toml", False), ("clip.mov", False)]
    found = {c.name: c for c in group(GEN, entries)}
    assert found["hero.png"] == Candidate("hero.png", Kind.IMAGE, ("hero.txt",))
    assert found["rain.txt"].kind is Kind.PROMPT and found["city.toml"].kind is Kind.PROMPT_FILE
    assert "hero.txt" not in found
    assert found["clip.mov"].kind is Kind.UNSUPPORTED
    assert "restyle/" in found["clip.mov"].hint


def test_stability_waits_for_a_quiet_window() -> None:
    s = Stability(window=3.0)
    s.observe("a", Signature(10, 1), now=0.0)
    assert s.due(2.9) == []
    s.observe("a", Signature(20, 2), now=2.9)  # still growing
    assert s.due(5.0) == []
    s.observe("a", Signature(20, 2), now=5.0)  # unchanged: the clock runs from 2.9
    assert s.due(5.9) == ["a"]
    s.observe("b", None, now=0.0)  # not measurable: never due
    assert "b" not in s.due(100.0)
    s.touch("a", now=6.0)  # an event: wait a full window again
    assert s.due(8.9) == [] and s.due(9.0) == ["a"]


def test_settings_merge_nearest_wins_and_errors_name_file_and_setting(tmp_path: Path) -> None:
    root = parse_settings_text('resolution = "720p"\nvariants = 2\n', tmp_path / "a")
    leaf = parse_settings_text('variants = 3\nselect = "color:Orange"\n', tmp_path / "b")
    eff = merge([FolderSettings(budget_units=10), root, leaf])
    assert (eff.resolution, eff.variants, eff.select, eff.budget_units) == (
        "720p", 3, "color:Orange", 10)
    with pytest.raises(SettingsProblem) as bad:
        parse_settings_text("resolutoin = '720p'\n", tmp_path / "kling-bridge.toml")
    assert "resolutoin is not a setting" in str(bad.value) and "kling-bridge.toml" in str(
        bad.value)
    with pytest.raises(SettingsProblem, match="select unknown selection 'colour-Orange'"):
        parse_settings_text("select = 'colour-Orange'\n", tmp_path / "kling-bridge.toml")
    with pytest.raises(SettingsProblem, match="not valid TOML"):
        parse_settings_text("variants = \n", tmp_path / "kling-bridge.toml")


def test_fingerprint_ignores_what_does_not_change_the_work() -> None:
    base = merge([])
    assert fingerprint(merge([FolderSettings(budget_units=5, format="otio")]), "r") == \
        fingerprint(base, "r")
    assert fingerprint(merge([FolderSettings(variants=2)]), "r") != fingerprint(base, "r")
    assert fingerprint(base, "restyle/film-noir") != fingerprint(base, "restyle/watercolor")


def test_selection_spelling_matches_the_cli() -> None:
    assert select_body("colour:Orange, Teal", 6) == {
        "mode": "color", "values": ["Orange", "Teal"], "handles": 6}
    assert select_body("range:01:00:10:00-01:00:20:00")["range"] == ["01:00:10:00", "01:00:20:00"]
    assert select_body("all")["mode"] == "all"
    for bad in ("track:", "range:100", "everything"):
        with pytest.raises(ValueError):
            select_body(bad)


def test_requests_are_the_apis_bodies() -> None:
    eff = merge([FolderSettings(select="track:V1", resolution="720p")])
    clip = request_for(Kind.CLIP, NOIR, Path("/w/processing/a.mov"), {}, eff, {"film-noir"})
    assert clip.verb == "restyle"
    assert clip.body["clips"] == [{"path": "/w/processing/a.mov"}]
    assert clip.body["looks"] == [{"preset": "film-noir", "prompt": None}]
    cut = request_for(Kind.TIMELINE, NOIR, Path("/w/p/cut.xml"), {}, eff, {"film-noir"})
    assert cut.body["timeline_path"] == "/w/p/cut.xml"
    assert cut.body["select"] == {"mode": "track", "values": ["V1"], "handles": 12}
    mine = merge([FolderSettings(prompt="pencil sketch")])
    own = request_for(Kind.CLIP, Route(RESTYLE, "sketch"), Path("/a.mov"), {}, mine, {"x"})
    assert own.body["looks"] == [{"preset": None, "prompt": "pencil sketch"}]
    with pytest.raises(ItemProblem, match="no preset is called 'sketch'"):
        request_for(Kind.CLIP, Route(RESTYLE, "sketch"), Path("/a.mov"), {}, merge([]),
                    {"film-noir"})


def test_prompt_files() -> None:
    eff = merge([FolderSettings(duration=8, audio=True)])
    txt = request_for(Kind.PROMPT, GEN, Path("/p/rain.txt"), {"rain.txt": " rain \n"}, eff, ())
    assert (txt.verb, txt.body["prompt"], txt.body["duration"], txt.body["audio"]) == (
        "generate", "rain", 8, True)
    toml = 'prompt = "city"\naspect = "9:16"\nshots = [{prompt="a", duration=2}, ' \
        '{prompt="b", duration=3}]\n'
    spec = request_for(Kind.PROMPT_FILE, GEN, Path("/p/c.toml"), {"c.toml": toml}, eff, ())
    assert spec.body["aspect_ratio"] == "9:16" and spec.body["duration"] == 5
    assert spec.body["shots"] == [{"prompt": "a", "duration": 2}, {"prompt": "b", "duration": 3}]
    img = request_for(Kind.IMAGE, GEN, Path("/p/hero.png"), {"hero.txt": "she turns"}, eff, ())
    assert img.body["image"] == "/p/hero.png" and img.body["prompt"] == "she turns"
    with pytest.raises(ItemProblem, match="empty"):
        request_for(Kind.PROMPT, GEN, Path("/p/e.txt"), {"e.txt": "  \n"}, eff, ())
    with pytest.raises(ItemProblem, match="not valid JSON"):
        request_for(Kind.PROMPT_FILE, GEN, Path("/p/b.json"), {"b.json": "{prompt:"}, eff, ())
    with pytest.raises(ItemProblem, match="durration is not a prompt setting"):
        request_for(Kind.PROMPT_FILE, GEN, Path("/p/b.json"),
                    {"b.json": '{"prompt": "x", "durration": 5}'}, eff, ())


PROC_MOUNTS = r"""/dev/sda1 / ext4 rw,relatime 0 0
//nas/Projects /mnt/nas cifs rw,vers=3.0 0 0
nas:/export/media /mnt/nas/media\040archive nfs4 rw 0 0
tmpfs /tmp tmpfs rw 0 0
"""
MAC_MOUNT = """/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
//editor@nas._smb._tcp.local/Projects on /Volumes/Projects (smbfs, nodev, nosuid, mounted by editor)
nas:/media on /Volumes/media (nfs, asynchronous)
"""


def test_network_drives_are_detected_from_the_mount_table() -> None:
    mounts = parse_proc_mounts(PROC_MOUNTS)
    assert fs_type_of("/mnt/nas/job/watch", mounts) == "cifs"
    assert fs_type_of("/mnt/nas/media archive/w", mounts) == "nfs4"
    assert fs_type_of("/home/editor/watch", mounts) == "ext4"
    mac = parse_mount_output(MAC_MOUNT)
    assert fs_type_of("/Volumes/Projects/watch", mac) == "smbfs"
    assert fs_type_of("/Users/editor/watch", mac) == "apfs"
    assert all(is_network_type(t) for t in ("cifs", "nfs4", "smbfs", "nfs", "fuse.sshfs"))
    assert not any(is_network_type(t) for t in ("ext4", "apfs", "tmpfs", None))


def _job(n: int, path: str, preset: str = "film-noir", variant: int = 0,
         state: str = "succeeded", clip: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"look": {"preset": preset}, "variant": variant}
    if clip:
        spec["clip"] = {"clip_id": clip, "name": clip, "record_duration": 10}
    return {"id": f"j{n:03d}", "label": f"job {n}", "state": state, "spec": spec,
            "result": {"outputs": [{"role": "video", "path": path}]} if state == "succeeded"
            else None, "error": None if state == "succeeded" else {"message": "refused",
                                                                    "hint": "try again"}}


def test_result_names_are_planned_and_versioned() -> None:
    taken = {"clip.film-noir.mp4"}
    batch = {"jobs": [_job(1, "/o/a.mp4"), _job(2, "/o/b.mp4", variant=1)]}
    plan = plan_results(Kind.CLIP, "clip.mov", batch, taken.__contains__)
    assert [o.name for o in plan.outputs] == ["clip.film-noir-2.mp4", "clip.film-noir.v2.mp4"]
    mine = plan_results(Kind.CLIP, "clip.mov", {"jobs": [_job(1, "/o/a.mov", preset="")]},
                        taken.__contains__, look="pencil sketch")  # a folder of one's own
    assert [o.name for o in mine.outputs] == ["clip.pencil sketch.mov"]
    tl = plan_results(Kind.TIMELINE, "cut.xml", {"jobs": [
        _job(1, "/o/a.mp4", clip="shot 1"), _job(2, "/o/b.mp4", clip="shot 1"),
        _job(3, "/o/c.mp4", state="failed")]}, {"cut.kling.xml"}.__contains__)
    assert tl.timeline is not None and tl.timeline.name == "cut.kling-2.xml"
    assert [o.name for o in tl.outputs] == ["cut.kling-2-media/shot 1.film-noir.mp4",
                                            "cut.kling-2-media/shot 1.film-noir-2.mp4"]
    assert [f.message for f in tl.failures] == ["refused"]


def test_moves_and_copies_never_overwrite(tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "a.mov").write_text("editor's own")
    src = tmp_path / "a.mov"
    src.write_text("new")
    moved = move_new(src, tmp_path / "dest")
    assert moved.name == "a-2.mov" and not src.exists()
    assert (tmp_path / "dest" / "a.mov").read_text() == "editor's own"
    assert versioned(tmp_path / "dest", "a.mov") == "a-3.mov"
    bundle = tmp_path / "cut.fcpxmld"
    bundle.mkdir()
    (bundle / "Info.fcpxml").write_text("<fcpxml/>")
    assert move_new(bundle, tmp_path / "dest").name == "cut.fcpxmld"
    out = tmp_path / "out" / "x.mp4"
    place_copy(moved, out)
    place_copy(moved, out)  # again (a resumed run): kept, not a second copy
    assert out.read_text() == "new" and len(list(out.parent.iterdir())) == 1
    with pytest.raises(FileExistsError):
        place_copy(tmp_path / "dest" / "a.mov", out)  # another file there: left alone
    assert out.read_text() == "new"


def test_a_folder_has_one_live_watcher_and_a_silent_one_is_replaced(tmp_path: Path) -> None:
    import os
    import time

    from kling_bridge.watch.ledger import STALE_SECONDS, Ledger

    ledger = Ledger(tmp_path / "watch.sqlite3")
    other = os.getppid()  # a live process that is not us
    ledger._run("INSERT INTO watchers VALUES (?, ?, ?, ?, ?)",
                ("/w", other, "http", time.time(), time.time()))
    assert ledger.hold("/w", "daemon") == other
    assert [w["pid"] for w in ledger.watchers()] == [other]
    silent = time.time() - STALE_SECONDS - 1  # its pid lives on, but it stopped beating
    ledger._run("UPDATE watchers SET beat = ? WHERE folder = '/w'", (silent,))
    assert ledger.hold("/w", "daemon") is None
    assert [w["pid"] for w in ledger.watchers()] == [os.getpid()]
    ledger.release("/w")
    assert ledger.watchers() == []
    ledger.close()
