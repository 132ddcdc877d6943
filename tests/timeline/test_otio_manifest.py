"""OpenTimelineIO's plugin manifest is loaded when the bridge's timeline code is imported.

OTIO loads it lazily on first use with no lock; a fresh daemon's worker threads using OTIO for
the first time at once each loaded one, and the second replaced the first while the first
thread walked its hook list: "Underlying C++ AnyVector object has been destroyed", a refused
restyle (seen on the Blender extension's first request). Run in a fresh interpreter, since this
test process loaded the manifest long ago.
"""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import threading
import kling_bridge.timeline
from opentimelineio.plugins import manifest
assert manifest._MANIFEST is not None, "the manifest is still to be loaded lazily"
import opentimelineio as otio
timeline = otio.schema.Timeline(name="cut")
timeline.tracks.append(otio.schema.Track(name="V1"))
errors = []
def write():
    try:
        otio.adapters.write_to_string(timeline, "otio_json")
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=write) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
print("ok")
"""


def test_importing_the_timeline_code_loads_otios_manifest_once_for_every_thread() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
