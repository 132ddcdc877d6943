"""What a start-up runs: no compiler or linker to look for a macOS library on Linux.

Python keyring's macOS backend probes for Apple's Security framework at import, which on
Linux runs ldconfig, gcc and ld three times each; ``kling_bridge.credentials`` answers the
probe "absent" off macOS (where that backend is never chosen anyway). Shown in a fresh
interpreter, with Python's audit hook for every process it starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .served import ROOT, env_for

PROBE = """
import json, sys
spawned = []
sys.addaudithook(lambda event, args: spawned.append(str(args[1])) if event == "subprocess.Popen"
                 else None)
import keyring
if sys.argv[1] == "bridge":
    import kling_bridge.credentials
backend = keyring.get_keyring()
print(json.dumps({"backend": f"{type(backend).__module__}.{type(backend).__name__}",
                  "spawned": spawned}))
"""


def _probe(tmp_path: Path, which: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE, which], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env_for(tmp_path))
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS the probe is the real one")
def test_the_credential_lookup_starts_no_process_and_picks_the_same_keyring(
        tmp_path: Path) -> None:
    stock, bridge = _probe(tmp_path, "stock"), _probe(tmp_path, "bridge")
    assert bridge["spawned"] == [], bridge
    assert bridge["backend"] == stock["backend"], (stock, bridge)
