"""Shared test fixtures. Every test runs with its own KLING_BRIDGE_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: it is a timed assertion, and on a shared, loaded machine a 0.3 ms
# example once took 288 ms (tests/timeline/test_fast_paths.py failed on it). Speed is
# measured in bench/, as ratios.
settings.register_profile("kling-bridge", deadline=None)
settings.load_profile("kling-bridge")


@pytest.fixture(autouse=True)
def bridge_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Isolate every file the bridge writes; keep real credentials out of tests."""
    home = tmp_path_factory.mktemp("kb-home")
    monkeypatch.setenv("KLING_BRIDGE_HOME", str(home))
    for var in ("KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "KLING_API_BASE",
                "KLING_BRIDGE_PROVIDER", "KLING_BRIDGE_MEDIA_HOST"):
        monkeypatch.delenv(var, raising=False)
    yield home
