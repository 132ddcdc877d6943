"""The media facts cache knows a hard link is the file it already measured.

The daemon places files by linking (a draft's render into the job's ``fetched`` folder,
results into ``--out``): measuring each name again was two more ffprobe processes per job.
A real copy, a rewrite or another extension is still measured afresh.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kling_bridge.media import facts as facts_mod
from kling_bridge.media.probe import probe
from kling_bridge.media.synth import make_clip


def test_a_hard_link_is_measured_once_a_copy_or_rewrite_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "calls"
    wrapper = tmp_path / "ffprobe"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {shutil.which("ffprobe")} "$@"\n')
    wrapper.chmod(0o755)
    clip = make_clip(tmp_path / "render.mp4", width=160, height=90, frames=10, rate="25")
    monkeypatch.setenv("KLING_BRIDGE_FFPROBE", str(wrapper))
    facts_mod.forget_all()

    def asked() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    first = probe(clip)
    measured = asked()
    assert measured >= 1 and first.video is not None and first.video.frame_count == 10
    linked = tmp_path / "fetched" / "task0-g1-0.mp4"
    linked.parent.mkdir()
    os.link(clip, linked)
    again = probe(linked)
    assert asked() == measured  # the same bytes under a new name: no new ffprobe
    assert again.path == str(linked) and again.video == first.video  # named as asked
    assert facts_mod.header_facts(linked).path == linked

    copy = tmp_path / "copy.mp4"
    shutil.copyfile(clip, copy)  # another inode: measured
    assert probe(copy).video == first.video and asked() == 2 * measured
    other_name = tmp_path / "render.mov"  # same inode, other extension: measured
    os.link(clip, other_name)
    assert probe(other_name).container == "mov" and asked() == 3 * measured
    make_clip(clip.with_name("new.mp4"), width=160, height=90, frames=5, rate="25")
    os.replace(clip.with_name("new.mp4"), linked)  # a rewrite under the linked name
    assert probe(linked).video.frame_count == 5  # type: ignore[union-attr]
