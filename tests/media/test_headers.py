"""Header-read facts agree with ffprobe's, and anything uncertain is left to ffprobe.

``validate`` reads MP4/MOV/PNG/JPEG headers in-process instead of starting ffprobe (see
``media/headers.py``); a disagreement would let the rules pass a file Kling refuses, so
every field the rules use is compared with ffprobe's on real files of each kind the bridge
meets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.providers.conftest import ffmpeg

from kling_bridge.media import facts as facts_mod
from kling_bridge.media.errors import MediaError
from kling_bridge.media.facts import ffprobe_facts, header_facts
from kling_bridge.media.headers import read_facts

SRC = "testsrc2=size={size}:rate={rate}:duration=1"
TONE = ["-f", "lavfi", "-i", "sine=duration=1"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast"]

#: name -> ffmpeg arguments (inputs and codecs; the output path is appended)
READABLE: dict[str, list[str]] = {
    # what the media pipeline sends: h264 + aac, moov in front (+faststart)
    "segment.mp4": ["-f", "lavfi", "-i", SRC.format(size="160x90", rate=25), *TONE, *X264,
                    "-c:a", "aac", "-shortest", "-movflags", "+faststart"],
    # moov at the end, behind the media data
    "moov-last.mp4": ["-f", "lavfi", "-i", SRC.format(size="160x90", rate=25), *TONE, *X264,
                      "-c:a", "aac", "-shortest"],
    # QuickTime: 29.97 with a timecode track, PCM sound, odd size
    "ntsc-timecode.mov": ["-f", "lavfi", "-i", SRC.format(size="162x92", rate="30000/1001"),
                          *TONE, *X264, "-c:a", "pcm_s16le", "-timecode", "01:00:00;00"],
    "prores.mov": ["-f", "lavfi", "-i", SRC.format(size="160x90", rate="24000/1001"),
                   "-c:v", "prores_ks", "-profile:v", "3"],
    "b-frames-50fps.mp4": ["-f", "lavfi", "-i", SRC.format(size="160x90", rate=50), *X264,
                           "-bf", "2", "-g", "10"],
    "variable-rate.mp4": ["-f", "lavfi", "-i", SRC.format(size="160x90", rate=25), "-vf",
                          r"select='not(eq(mod(n\,7)\,3))'", "-fps_mode", "vfr", *X264],
    "sound.m4a": [*TONE, "-c:a", "aac"],
    "still.png": ["-f", "lavfi", "-i", "testsrc2=size=320x200", "-frames:v", "1"],
    "still.jpg": ["-f", "lavfi", "-i", "testsrc2=size=320x200", "-frames:v", "1"],
}
#: files only ffprobe may judge
DEFERRED: dict[str, list[str]] = {
    "fragmented.mp4": ["-f", "lavfi", "-i", SRC.format(size="160x90", rate=25), *X264,
                       "-movflags", "frag_keyframe+empty_moov"],
    "clip.mkv": ["-f", "lavfi", "-i", SRC.format(size="160x90", rate=25), *X264],
    "line.wav": [*TONE],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("headers")
    out = {}
    for name, args in (READABLE | DEFERRED).items():
        ffmpeg(*args, str(d / name))
        out[name] = d / name
    whole = out["moov-last.mp4"].read_bytes()
    (d / "truncated.mp4").write_bytes(whole[: len(whole) // 2])  # download cut short
    out["truncated.mp4"] = d / "truncated.mp4"
    return out


@pytest.mark.parametrize("name", sorted(READABLE))
def test_header_facts_equal_ffprobes(name: str, files: dict[str, Path]) -> None:
    path = files[name]
    size = path.stat().st_size
    got = read_facts(path, size)
    want = ffprobe_facts(path, size)
    assert got is not None
    assert (got.codec, got.width, got.height, got.has_video, got.has_audio, got.size_bytes) == (
        want.codec, want.width, want.height, want.has_video, want.has_audio, want.size_bytes)
    if want.has_video:  # stills: ffprobe invents 25 fps and a frame's duration
        assert got.format_name == want.format_name
        assert got.fps == pytest.approx(want.fps, rel=1e-6)
        assert got.duration == pytest.approx(want.duration, abs=1e-3)
    if want.has_audio and not want.has_video:
        assert got.duration == pytest.approx(want.duration, abs=1e-3)


@pytest.mark.parametrize("name", [*sorted(DEFERRED), "truncated.mp4"])
def test_uncertain_files_are_left_to_ffprobe(name: str, files: dict[str, Path]) -> None:
    path = files[name]
    assert read_facts(path, path.stat().st_size) is None
    if name == "truncated.mp4":
        with pytest.raises(MediaError, match=r"truncated\.mp4"):
            header_facts(path)
    else:
        assert header_facts(path) == ffprobe_facts(path, path.stat().st_size)


def test_probe_starts_no_ffprobe_for_a_segment(files: dict[str, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("ffprobe was started")

    monkeypatch.setattr(facts_mod, "ffprobe_facts", refuse)
    facts_mod.forget_all()
    facts = header_facts(files["segment.mp4"])
    assert (facts.width, facts.height, facts.fps, facts.has_audio) == (160, 90, 25.0, True)


def test_garbage_with_an_mp4_name_is_not_read_as_one(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 16 + b"\xff" * 64)
    assert read_facts(fake, fake.stat().st_size) is None
    with pytest.raises(MediaError):
        header_facts(fake)


def test_ffprobe_is_the_one_configured_and_asked_once_per_file_version(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kling's checks used to start a bare ``ffprobe``: now the media facts service asks the
    one ``KLING_BRIDGE_FFPROBE`` names, and remembers the answer in the one cache."""
    import shutil

    calls = tmp_path / "calls"
    wrapper = tmp_path / "ffprobe"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {shutil.which("ffprobe")} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("KLING_BRIDGE_FFPROBE", str(wrapper))
    facts_mod.forget_all()
    first = header_facts(files["clip.mkv"])
    assert header_facts(files["clip.mkv"]) == first
    assert first.has_video and (first.width, first.height) == (160, 90)
    assert len(calls.read_text().splitlines()) == 1


def test_a_hard_link_is_the_same_file_measured_once_a_copy_is_not(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The draft provider's answer is hard-linked into the job's folder: the same file (same
    device, inode, size, mtime), so ffprobe is not asked again -- each ffprobe is a process.
    A copy is another file (another inode): measured for itself. Each answer names the path
    it was asked about."""
    import os
    import shutil

    from kling_bridge.media.probe import probe

    calls = tmp_path / "calls"
    wrapper = tmp_path / "ffprobe"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {shutil.which("ffprobe")} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("KLING_BRIDGE_FFPROBE", str(wrapper))
    facts_mod.forget_all()
    src = files["clip.mkv"]
    first = probe(src)
    asked = len(calls.read_text().splitlines())
    assert asked >= 1 and first.video is not None
    linked = tmp_path / "fetched" / "task0.mkv"
    linked.parent.mkdir()
    os.link(src, linked)
    again = probe(linked)
    assert len(calls.read_text().splitlines()) == asked  # no new ffprobe
    assert again.path == str(linked) and again.video == first.video
    copied = tmp_path / "copy.mkv"
    shutil.copy2(src, copied)  # same bytes and mtime, another inode
    assert probe(copied).path == str(copied)
    assert len(calls.read_text().splitlines()) == 2 * asked
