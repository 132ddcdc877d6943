"""The README's install steps work as written, and putting results back is safe: checked by
reading the track again, never applied twice, and refused when the clip has changed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import cut, empty_timeline
from kling_bridge_resolve import placement
from kling_bridge_resolve.actions import Session
from kling_bridge_resolve.host import Host
from kling_bridge_resolve.ledger import Ledger
from kling_bridge_resolve.settings import validate

from conftest import ENTRY, ROOT, RUNNER, Editor, need
from kling_bridge.media.synth import make_clip


def readme_install_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## DaVinci Resolve"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_installed_by_copying_as_the_readme_says(tmp_path: Path, daemon: Any,
                                                 media: dict[str, Path]) -> None:
    """The README's commands, run in a fresh home; then Resolve (with no checkout anywhere
    near) runs the copied script and it finds the copied library."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    subprocess.run(["sh", "-e", "-c", readme_install_block()], cwd=ROOT, env=env, check=True)
    scripts = home / ".local/share/DaVinciResolve/Fusion/Scripts"
    installed = scripts / "Edit" / ENTRY["collect"].name
    assert installed.is_file() and (scripts / "Utility" / "Kling Bridge.py").is_file()
    assert (home / ".local/share/kling-bridge/resolve/kling_bridge_resolve/host.py").is_file()
    editor = Editor(tmp_path / "session", daemon)
    app, _t, _i = cut(media["24"], "24")
    editor.save(app)
    done = subprocess.run(
        [need("current"), str(RUNNER), str(editor.state), str(installed), "--no-file"],
        env={**env, "KLING_BRIDGE_HOME": str(editor.home)}, capture_output=True, text=True,
        cwd=str(tmp_path))
    assert "Nothing waiting" in done.stdout, done.stdout + done.stderr


# ------------------------------------------------------------------ applying, in process


class Console(list[str]):
    def __call__(self, text: str) -> None:
        self.append(text)


@pytest.fixture
def result_clip(tmp_path: Path) -> Path:
    """What the daemon hands back for the second clip: 30 frames at 24 fps."""
    return make_clip(tmp_path / "out" / "shot.film-noir.v1.mov", width=160, height=90,
                     rate="24", frames=30, pattern="mandelbrot")


def session_for(app: Any, tmp_path: Path, **settings: Any) -> tuple[Session, Console]:
    console = Console()
    session = Session(Host.from_namespace(app.namespace()), client=None,
                      settings=validate(settings), say=console,
                      ledger=Ledger(str(tmp_path / "ledger.json")))
    return session, console


def restyle_entry(item: Any, mode: str = "take") -> dict[str, Any]:
    timeline = item._app.timeline_of(item.GetUniqueId())
    return {"batch_id": "b1", "kind": "restyle", "mode": mode, "timeline": timeline["id"],
            "timeline_name": "Cut", "look": "film-noir", "outcomes": {},
            "targets": {item.GetUniqueId(): {"name": item.GetName(), "track": 1,
                                             "start": item.GetStart(), "end": item.GetEnd()}}}


def finished_job(item: Any, path: Path, frames: int = 30) -> dict[str, Any]:
    """A job as GET /v1/batches/{id} answers it (JobOut), finished."""
    return {"id": "j1", "batch_id": "b1", "kind": "restyle", "label": "shot · film-noir",
            "state": "succeeded", "spec": {"clip": {"clip_id": item.GetUniqueId()}},
            "result": {"outputs": [{"path": str(path), "role": "video", "frames": frames,
                                    "rate": "24", "has_audio": True}]}}


def test_a_take_is_added_once_however_often_it_is_collected(media, tmp_path, result_clip):
    app, _timeline, items = cut(media["24"], "24")
    session, console = session_for(app, tmp_path)
    entry, job = restyle_entry(items[1]), finished_job(items[1], result_clip)
    assert session._apply(entry, job) == "applied"
    assert session._apply(entry, job) == "applied"  # e.g. the ledger write was lost
    state = app.find_item(items[1].GetUniqueId())
    assert len(state["takes"]) == 2 and state["take"] == 2
    assert app.media(state["media"])["props"]["File Path"] == str(result_clip)
    assert [m["customData"] for m in state["markers"]] == ["kling-bridge job=j1 batch=b1"]
    assert any("take 2 on" in line for line in console)


def test_a_clip_trimmed_since_it_was_sent_keeps_its_result_in_the_bin(media, tmp_path,
                                                                      result_clip):
    app, _timeline, items = cut(media["24"], "24")
    session, console = session_for(app, tmp_path)
    entry, job = restyle_entry(items[1]), finished_job(items[1], result_clip)
    app.find_item(items[1].GetUniqueId())["duration"] = 20  # the editor trimmed it
    outcome = session._apply(entry, job)
    assert outcome is not None and outcome.startswith("failed: ")
    assert "moved, trimmed or deleted" in console[-1] and "'Kling Bridge' bin" in console[-1]
    assert app.find_item(items[1].GetUniqueId())["takes"] == []
    assert app.find_media(str(result_clip)) is not None  # imported all the same


def test_track_placement_waits_for_its_timeline_to_be_open(media, tmp_path, result_clip):
    app, timeline, items = cut(media["24"], "24")
    pool = app.resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    other = pool.CreateEmptyTimeline("Other cut")
    session, console = session_for(app, tmp_path)
    entry, job = restyle_entry(items[1], mode="track"), finished_job(items[1], result_clip)
    app.resolve.GetProjectManager().GetCurrentProject().SetCurrentTimeline(other)
    assert session._apply(entry, job) is None  # left for later: appends go to the open one
    assert "open it and run Kling Bridge - Collect" in console[-1]
    app.resolve.GetProjectManager().GetCurrentProject().SetCurrentTimeline(timeline)
    assert session._apply(entry, job) == "applied"
    (placed,) = app.items("video", 2)
    assert (placed["start"], placed["duration"]) == (items[1].GetStart(), 30)


def test_a_dropped_append_is_caught_by_reading_the_track_back(media, tmp_path, result_clip):
    """Resolve answers an overlapping append with an item that is not there; the plugin's
    check reads the track and names what blocks it."""
    app, timeline, items = cut(media["24"], "24")
    host = Host.from_namespace(app.namespace())
    media_item = host.import_media(str(result_clip), "Kling Bridge")
    record = items[1].GetStart() + 5
    answer = host.append(media_item, placement.clip_info(0, 30, 1, record))
    assert len(answer) == 1  # Resolve "succeeded"
    problem = placement.check_clip(host.track_items(timeline, 1), record, 30, str(result_clip),
                                   1, "'shot'")
    assert problem is not None and "track 1 is taken there by" in problem
    again = host.import_media(str(result_clip), "Kling Bridge")  # Resolve answers [] now
    assert again == media_item


def test_a_paid_run_over_the_limit_is_refused_before_anything_is_sent(media, tmp_path):
    from kling_bridge_resolve.client import BridgeError

    app, _timeline, _items = cut(media["24"], "24")
    session, console = session_for(app, tmp_path, max_units=10)
    priced = {"provider": "kling", "paid": True, "draft": False,
              "estimate": {"units": 14.0, "usd": 1.96}}
    with pytest.raises(BridgeError, match=r"about 14\.0 units, over your limit of 10") as caught:
        session.check_price(priced)
    assert "max_units" in caught.value.hint
    assert console == ["Price: about 14.0 units (US$1.96) on kling"]
    session.check_price(dict(priced, estimate={"units": 9.0, "usd": 1.26}))
    session.check_price({"provider": "draft", "paid": False, "draft": True,
                         "estimate": {"units": 0, "usd": 0}})
    assert "free -- the draft provider renders local drafts" in console[-1]


def test_a_clip_no_track_placement_could_fit_is_left_out_before_anything_is_sent(
        media, tmp_path):
    """24 fps media on a 25 fps timeline, trimmed to 24 frames: no whole number of its
    frames fills 24 timeline frames on a track, so "Restyle to track" leaves it out (and
    says to use a take); as a take it goes."""
    app, _ = empty_timeline("25")
    pool = app.resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    (clip,) = pool.ImportMedia([str(media["24"])])
    items = [pool.AppendToTimeline([{"mediaPoolItem": clip, "startFrame": first,
                                     "endFrame": first + 24, "mediaType": 1,
                                     "trackIndex": 1, "recordFrame": record}])[0]
             for first, record in ((0, 90000), (20, 90100))]
    assert [i.GetDuration() for i in items] == [25, 25]  # 24 frames at 24 fps: 1 s
    app.find_item(items[1].GetUniqueId())["duration"] = 24  # the editor trimmed one
    for item in items:
        item.SetClipColor("Orange")
    session, console = session_for(app, tmp_path)
    _facts, choice, body = session.prepare("track")
    assert [i.uid for i in choice.items] == [items[0].GetUniqueId()]
    assert any("left out" in line and "no whole number of its frames fills exactly 24"
               in line for line in console)
    assert len(body["timeline"]["tracks"]["children"][0]["children"]) >= 2
    _facts, choice, _body = session.prepare("take")
    assert len(choice.items) == 2
