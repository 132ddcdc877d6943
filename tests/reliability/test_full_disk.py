"""A full disk mid-write leaves no temp file behind (and no half file under a final name).

The disk fills for real: the writing process runs under ``RLIMIT_FSIZE`` (writes past the
limit fail with EFBIG, as ENOSPC would), and so do the ffmpeg children it starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .served import ROOT

SCRIPT = r"""
import asyncio, json, resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
from kling_bridge.media.run import arun, atomic_output, ffmpeg_args
from kling_bridge.jobs.media_pipeline import _write_json
from kling_bridge.providers.draft import DraftProvider
out = Path(sys.argv[1])
failures = []

async def render():
    with atomic_output(out / "render.mp4") as tmp:
        await arun(ffmpeg_args("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=4",
                               "-c:v", "libx264", "-preset", "ultrafast", str(tmp)))
try:
    asyncio.run(render())
except Exception as exc:
    failures.append(type(exc).__name__)
big = {"pad": "x" * 200_000}
for write in (lambda p, d: _write_json(p, d), lambda p, d: DraftProvider._write_json(None, p, d)):
    try:
        write(out / "plan.json", big)
    except OSError as exc:
        failures.append(type(exc).__name__)
print(json.dumps(failures))
"""


def test_a_full_disk_leaves_no_temp_and_no_half_file(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(failures) == 3, failures  # each write really failed
    assert sorted(p.name for p in out.iterdir()) == []
