"""``kling-bridge serve`` as the command runs it, in its own process, its drafts rendered small.

    python tests/chains/serve_small.py [serve's options]   (the environment of ``serve``)

For the host tests (Resolve, Blender): they check what a plugin does with the daemon's
answers -- takes, tracks, strips, frames, rates, markers, chains, the comparison picture --
never a draft's size. This is the same ``serve`` command after
:func:`tests.chains.small.daemons_render_small` (drafts 180 pixels high whatever resolution
is asked, Kling's limits but the smallest side, the fastest encoders), its draft tasks
polled as :func:`tests.chains.small.draft_engine` polls them. At Kling's sizes a 160x90 clip
was blown up to 1244x700 before its look ran, and every look rendered 720 pixels high: most
of those tests' CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the checkout: tests.*

import pytest  # noqa: E402

from kling_bridge import cli, daemon  # noqa: E402
from tests.chains.small import DRAFT_POLLS, daemons_render_small  # noqa: E402


def main() -> int:
    patch = pytest.MonkeyPatch()
    start = daemon.start_daemon

    async def start_polling_drafts_often(*args: Any, **kwargs: Any) -> daemon.Running:
        kwargs.setdefault("poll_intervals", DRAFT_POLLS)  # a user's daemon: 0.2-1 s
        return await start(*args, **kwargs)

    try:
        daemons_render_small(patch)
        patch.setattr(daemon, "start_daemon", start_polling_drafts_often)
        return cli.main(["serve", *sys.argv[1:]])
    finally:
        patch.undo()


if __name__ == "__main__":
    sys.exit(main())
