"""Schemathesis against the document the daemon serves, authenticated: 0 server errors and 0
answers that differ from the published schemas (status codes, media types, bodies,
headers), for generated requests both valid and invalid, and for chains of calls.

The daemon is the real one with the durable fake provider (the API is the subject here;
the fake keeps thousands of generated jobs from rendering drafts). CI runs a short, fixed
seed; ``KLING_BRIDGE_FUZZ_EXAMPLES=300`` (and an unset seed) runs the long form by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .served import serve

pytestmark = pytest.mark.slow

ST = Path(sys.executable).parent / "st"
CHECKS_SKIPPED = "positive_data_acceptance"  # a valid-looking path to a missing file is a 400


@pytest.mark.skipif(not ST.exists() and not shutil.which("st"), reason="schemathesis missing")
def test_generated_requests_get_no_5xx_and_match_the_document(tmp_path: Path) -> None:
    served = serve(tmp_path / "home", fake=True, delay=0.1)
    examples = os.environ.get("KLING_BRIDGE_FUZZ_EXAMPLES", "20")
    seed = [] if "KLING_BRIDGE_FUZZ_EXAMPLES" in os.environ else ["--seed", "20260611"]
    try:
        done = subprocess.run(
            [str(ST) if ST.exists() else "st", "run",
             f"http://127.0.0.1:{served.port}/v1/openapi.json",
             "--header", f"Authorization: Bearer {served.token}",
             "--checks", "all", "--exclude-checks", CHECKS_SKIPPED,
             "--max-examples", examples, *seed,
             "--exclude-path", "/v1/events",  # an endless stream: covered in tests/api
             "--workers", "1", "--no-color", "--generation-database", "none",
             "--request-timeout", "30", "--suppress-health-check", "all"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,
        )
        assert served.alive()
    finally:
        served.stop()
    report = done.stdout[-6000:]
    assert done.returncode == 0, report
    assert "passed" in report and "failed" not in report.split("SUMMARY")[-1], report
    assert served.token not in done.stdout + done.stderr  # (schemathesis filters it too)
