"""Small modules named for what they hold (DESIGN.md's style): no module of the daemon, the
OTIO plugin or the host plugins grows past 500 lines unnoticed -- past that, a module holds
more than one thing and is split by what it holds (issue 16)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 500


def test_no_module_is_over_500_lines() -> None:
    sources = [p for folder in ("daemon", "otio_adapters", "plugins")
               for p in (ROOT / folder).rglob("*.py")]
    assert len(sources) > 100  # the tree was found
    long = {str(p.relative_to(ROOT)): n for p in sources
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT}
    assert long == {}, f"split these by what they hold: {long}"
