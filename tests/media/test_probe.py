"""Probe: exact facts from real (generated) files, and clear refusals of bad input."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from kling_bridge.media import errors
from kling_bridge.media.probe import MediaInfo, probe, require_motion_video
from kling_bridge.media.synth import make_still, make_tone
from kling_bridge.rates import snap_rate

MakeClip = Callable[..., Path]


@pytest.mark.parametrize(
    ("rate", "frames"),
    [("24000/1001", 36), ("24", 30), ("25", 30), ("30000/1001", 40), ("50", 60),
     ("60000/1001", 70)],
)
def test_exact_rational_rate_and_counted_frames(clip: MakeClip, rate: str, frames: int) -> None:
    info = probe(clip("r.mp4", rate=rate, frames=frames, width=160, height=90))
    assert info.video is not None
    assert info.video.rate == Fraction(rate)
    assert info.video.frame_count == frames
    assert not info.video.vfr
    assert info.audio is not None
    assert info.audio.duration == pytest.approx(frames / Fraction(rate), abs=0.001)


def test_timecode_geometry_and_audio_layout(clip: MakeClip) -> None:
    info = probe(clip("tc cam#1 é.mov", rate="30000/1001", frames=30, width=320, height=180,
                      timecode="01:00:00;00", channels=2))
    assert info.timecode == "01:00:00;00"
    assert info.video is not None and (info.video.width, info.video.height) == (320, 180)
    assert info.audio is not None
    assert info.audio.channels == 2 and info.audio.sample_rate == 48000
    assert info.container == "mov"


def test_variable_frame_rate_is_detected(clip: MakeClip) -> None:
    info = probe(clip("vfr.mp4", rate="30", frames=70, vfr=True, audio=False))
    assert info.video is not None
    assert info.video.vfr
    assert info.video.rate == 30  # the nominal rate editors interpret it at
    assert info.video.frame_count == 60  # every 7th of 70 dropped


def test_rotation_swaps_the_decoded_frame(clip: MakeClip) -> None:
    info = probe(clip("rot.mp4", rotation=90, width=320, height=180, frames=10, audio=False))
    v = info.video
    assert v is not None and v.rotated
    assert (v.frame_width, v.frame_height) == (180, 320)


def test_prores_and_interlaced(clip: MakeClip) -> None:
    pr = probe(clip("p.mov", codec="prores", width=480, height=200, rate="24000/1001",
                    frames=12))
    assert pr.video is not None and pr.video.codec == "prores"
    assert pr.video.pix_fmt == "yuv422p10le"
    il = probe(clip("i.mp4", interlaced=True, rate="30000/1001", frames=20, audio=False))
    assert il.video is not None and il.video.interlaced and il.video.field_order == "tt"
    assert il.video.rate == Fraction(30000, 1001) and il.video.frame_count == 20


def test_info_survives_json(clip: MakeClip) -> None:
    info = probe(clip("j.mp4", rate="24000/1001", frames=12, width=160, height=90))
    assert MediaInfo.from_dict(info.to_dict()) == info


def test_snap_keeps_ntsc_and_integer_rates_apart() -> None:
    assert snap_rate(Fraction(2997, 100)) == Fraction(30000, 1001)
    assert snap_rate(Fraction(30)) == 30
    assert snap_rate(Fraction(30303, 1000)) == Fraction(30303, 1000).limit_denominator(1001)


# --- bad input: each refusal names the file and says what to do ---------------------------


def _refused(path: Path, kind: type[errors.MediaError]) -> errors.MediaError:
    with pytest.raises(kind) as caught:
        probe(path)
    err = caught.value
    assert str(path) in err.message
    assert err.hint
    return err


def test_missing_file(tmp_path: Path) -> None:
    _refused(tmp_path / "gone.mov", errors.MediaMissing)


def test_zero_bytes(tmp_path: Path) -> None:
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    err = _refused(p, errors.MediaEmpty)
    assert "0 bytes" in err.problem


def test_truncated(clip: MakeClip, tmp_path: Path) -> None:
    good = clip("good.mp4", frames=50)
    bad = tmp_path / "truncated.mp4"
    bad.write_bytes(good.read_bytes()[:30000])
    _refused(bad, errors.MediaCorrupt)


def test_truncated_with_index_up_front(clip: MakeClip, tmp_path: Path) -> None:
    """A faststart file cut short: the header is fine, the frames are not all there."""
    src = clip("g.mp4", frames=50)
    fast = tmp_path / "fast.mp4"
    os.system(f"ffmpeg -v error -i '{src}' -c copy -movflags +faststart '{fast}'")
    bad = tmp_path / "cut.mp4"
    data = fast.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    _refused(bad, errors.MediaCorrupt)


def test_not_a_video(tmp_path: Path) -> None:
    p = tmp_path / "notes.mov"
    p.write_text("this is an editor's note, not a clip\n" * 50)
    _refused(p, errors.MediaCorrupt)


def test_audio_only(tmp_path: Path) -> None:
    err = _refused(make_tone(tmp_path / "dialogue.m4a", 2.0), errors.NotAVideo)
    assert "audio only" in err.problem
    info = probe(tmp_path / "dialogue.m4a", require_video=False)
    assert info.video is None and info.audio is not None


def test_folder_and_unreadable(tmp_path: Path, clip: MakeClip) -> None:
    _refused(tmp_path, errors.MediaUnreadable)
    if os.geteuid() == 0:
        pytest.skip("root reads everything; permission refusal cannot be shown")
    p = tmp_path / "locked.mp4"
    shutil.copyfile(clip("l.mp4", frames=5), p)
    p.chmod(0)
    _refused(p, errors.MediaUnreadable)


def test_still_is_not_a_motion_clip(tmp_path: Path) -> None:
    info = probe(make_still(tmp_path / "still.png", 640, 360))
    assert info.is_still
    with pytest.raises(errors.NotAVideo, match="still image"):
        require_motion_video(info)


def test_a_file_is_measured_once_per_version(
    clip: MakeClip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One job probes a file several times (fit, checks, conform, preview): ffprobe runs
    once -- one process, for the streams and the packet scan together; a file rendered
    again and renamed into place under the same name is measured afresh, and the answer
    names the path it was asked for."""
    real = shutil.which("ffprobe")
    assert real is not None
    log = tmp_path / "ffprobe runs.log"
    counting = tmp_path / "ffprobe"
    counting.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{real}" "$@"\n')
    counting.chmod(0o755)
    monkeypatch.setenv("KLING_BRIDGE_FFPROBE", str(counting))

    def runs() -> int:
        return len(log.read_text().splitlines()) if log.exists() else 0

    shot = tmp_path / "shot.mp4"
    shutil.copyfile(clip("a.mp4", frames=30), shot)
    first = probe(shot)
    assert first.video is not None and first.video.frame_count == 30
    assert first.audio is not None
    assert probe(shot) == first and runs() == 1
    linked = tmp_path / "linked.mp4"
    linked.symlink_to(shot)
    assert probe(linked).path == str(linked) and runs() == 1

    part = tmp_path / "shot.mp4.part"
    shutil.copyfile(clip("b.mp4", frames=40), part)
    os.replace(part, shot)
    again = probe(shot)
    assert again.video is not None and again.video.frame_count == 40 and runs() == 2


def test_an_ffprobe_writing_its_json_otherwise_is_still_understood(
    clip: MakeClip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-pass probe reads ffprobe's compact JSON a packet a line as this build writes
    it. Another build (keys in another order, another indentation) must not make every
    file unreadable: the packets are then asked for alone, and the facts are the same."""
    real = shutil.which("ffprobe")
    assert real is not None
    source = clip("c.mp4", frames=36)
    expected = probe(source)
    log = tmp_path / "ffprobe runs.log"
    other = tmp_path / "ffprobe"
    # JSON answers: packet keys in another order, the packets list indented by two
    other.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{log}"\n'
        'case "$*" in *json*) ;; *) exec "' + real + '" "$@" ;; esac\n'
        f'"{real}" "$@" | sed -e \'s/{{ "codec_type": "\\([a-z]*\\)", "stream_index": '
        '\\([0-9]*\\)/{ "stream_index": \\2, "codec_type": "\\1"/\' '
        "-e 's/^    /  /'\n")
    other.chmod(0o755)
    monkeypatch.setenv("KLING_BRIDGE_FFPROBE", str(other))
    moved = tmp_path / "moved.mp4"
    shutil.copyfile(source, moved)
    again = probe(moved)
    assert len(log.read_text().splitlines()) == 2  # the one pass, then the packets alone
    assert again.video == expected.video and again.audio == expected.audio
