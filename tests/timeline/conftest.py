"""Shared fixtures for the timeline tests: the real editors' exports, read in place."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = (REPO / ".." / "shared" / "samples").resolve()
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"editor sample exports not found at {SAMPLES} (../shared/samples)")
    return SAMPLES
