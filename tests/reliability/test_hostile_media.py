"""Media tools that misbehave must not hang the daemon's worker threads.

A damaged file can make ffprobe write far more to stderr than a pipe holds; a probe that
reads stdout to the end before it reads stderr then blocks for ever, and so does the
thread (and, with enough such files, every worker). The probe must finish regardless.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from kling_bridge.media import facts as facts_module
from kling_bridge.media.probe import probe


def test_a_flood_of_ffprobe_errors_does_not_block_the_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x90:rate=25:duration=1", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)], check=True)
    real = shutil.which("ffprobe")
    noisy = tmp_path / "ffprobe"
    # ffprobe as a damaged file makes it behave: 4 MB of complaints, then its answer.
    noisy.write_text(f'#!/bin/sh\nhead -c 4000000 /dev/zero | tr "\\0" "e" >&2\n'
                     f'exec {real} "$@"\n')
    noisy.chmod(0o755)
    monkeypatch.setenv("KLING_BRIDGE_FFPROBE", str(noisy))
    facts_module.forget_all()
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["info"] = probe(clip)
        except Exception as exc:  # a clear error is fine; a hang is not
            result["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the probe blocked on ffprobe's stderr"
    assert "info" in result or "error" in result
