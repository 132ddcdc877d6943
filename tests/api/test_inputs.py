"""The checks at the door, one by one: rates, paths, file kinds, JSON depth, stored rows."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from kling_bridge.api.bodies import json_depth
from kling_bridge.api.inputs import normalise_rate
from kling_bridge.fileguard import UnsafeFile, path_problem, read_capped, regular_file
from kling_bridge.jobs import model as m

from .conftest import Api


@pytest.mark.parametrize(("text", "exact"), [
    ("25", "25"), ("24000/1001", "24000/1001"), ("23.976", "24000/1001"), ("29.97", "30000/1001"),
    ("59.94", "60000/1001"), ("48000/2000", "24"), ("12.5", "25/2"), ("1000", "1000"),
])
def test_rates_are_stored_exact(text: str, exact: str) -> None:
    assert normalise_rate(text) == exact


@pytest.mark.parametrize("text", ["abc", "0", "1/0", "-25", "", "0/1001", "1001", "1e3",
                                  "25 fps", "24/", "NaN", "inf", "0.5"])
def test_rates_that_are_not_are_refused_with_words(text: str) -> None:
    with pytest.raises(ValueError) as err:
        normalise_rate(text)
    assert repr(text) in str(err.value)


def test_paths_are_judged_on_their_text_first() -> None:
    assert path_problem("/media/clip.mov") is None
    assert "NUL" in (path_problem("/media/c\x00lip.mov") or "")
    assert "absolute" in (path_problem("media/clip.mov") or "")
    assert "/proc" in (path_problem("/proc/self/environ") or "")
    assert "/dev" in (path_problem("/dev/../dev/zero") or "")
    assert "/sys" in (path_problem("/sys") or "")


def test_special_files_are_refused_by_kind_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "cut.fcpxml"
    os.mkfifo(fifo)
    link = tmp_path / "zero.otio"
    link.symlink_to("/dev/zero")
    done = threading.Event()

    def read_fifo() -> None:
        with pytest.raises(UnsafeFile, match="pipe"):
            read_capped(fifo)
        done.set()

    worker = threading.Thread(target=read_fifo, daemon=True)
    worker.start()
    assert done.wait(30), "reading a FIFO blocked"  # nobody ever writes to it
    with pytest.raises(UnsafeFile, match="character device"):
        read_capped(link)
    with pytest.raises(UnsafeFile, match="folder"):
        regular_file(tmp_path, what="clip")
    with pytest.raises(UnsafeFile) as missing:
        regular_file(tmp_path / "gone.mov", what="clip")
    assert missing.value.code == "missing"


def test_a_file_larger_than_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    with big.open("wb") as fh:
        fh.truncate(2048)
    with pytest.raises(UnsafeFile, match="MB"):
        read_capped(big, max_bytes=1024)
    assert read_capped(big, max_bytes=4096) == b"\0" * 2048


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": []}]}') == 4
    assert json_depth(b'"\\"[["') == 0
    assert json_depth(b"[" * 70 + b"]" * 70) == 70


async def test_a_row_stored_with_a_bad_rate_does_not_break_its_timeline(api: Api) -> None:
    """Rows written before rates were checked at the door still answer (rate 24 assumed)."""
    store = api.services.engine.store
    now = time.time()
    batch = m.new_id("b", now)
    job = m.Job(id=m.new_id("j", now), batch_id=batch, kind=m.JobKind.GENERATE, provider="fake",
                spec={"prompt": "x", "placement": {"clip_id": "p", "timeline_rate": "1/0"}},
                state=m.JobState.FAILED, created_at=now, updated_at=now, label="x")
    store.create_batch(batch, "generate", {"kind": "generate"}, [job])
    r = await api.get(f"/v1/batches/{batch}/timeline?format=otio")
    assert r.status == 200, await r.text()


async def test_405_keeps_allow_and_lower_case_bearer_works(api: Api) -> None:
    r = await api.client.delete("/v1/jobs", headers=api.headers())
    assert r.status == 405 and "GET" in r.headers["Allow"]
    r = await api.client.get("/v1/health", headers={"Host": api.host,
                                                   "Authorization": f"bearer {api.token}"})
    assert r.status == 200
