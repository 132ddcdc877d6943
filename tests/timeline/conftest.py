"""Shared fixtures for the timeline tests: the real editors' exports, read in place."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "samples"  # a verbatim copy of ../shared/samples (see its README)
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES
