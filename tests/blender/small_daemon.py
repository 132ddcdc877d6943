"""``kling-bridge serve`` as the command runs it, with the draft provider rendering small.

    python tests/blender/small_daemon.py serve --port 0 --provider draft

The Blender scenario checks frames, places, jobs and the extension's behaviour, not pixel
sizes: the daemon's own command line and start-up, its draft provider rendering 180 pixels
high whatever resolution is asked (Kling's limits but the smallest side), its pipeline's encoders
turned down -- what :func:`tests.chains.small.daemons_render_small` does for the daemons
the chain tests start in-process -- and its draft tasks polled as often as there. 720p
drafts and 700-pixel fits cost ~90 s of ffmpeg CPU per run for nothing these tests see.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout: tests.*

from kling_bridge import cli, daemon
from kling_bridge.config import Paths
from tests.chains.small import small_drafts
from tests.providers.kling_engine import fast_pipeline


def main() -> int:
    build = daemon.build_providers

    def build_small(settings: Any, paths: Paths, credential: Any) -> dict[str, Any]:
        providers = build(settings, paths, credential)
        providers["draft"] = small_drafts(paths)
        return providers

    start = daemon.start_daemon

    async def start_polling_fast(*args: Any, **kwargs: Any) -> daemon.Running:
        # the draft's tasks asked about every 0.05-0.2 s (the daemon's 0.2-1 s is for a
        # user's machine), as in tests/chains/small.py's draft_engine
        kwargs.setdefault("poll_intervals", {"draft": (0.05, 0.2)})
        return await start(*args, **kwargs)

    daemon.build_providers = build_small
    daemon.build_pipeline = fast_pipeline
    daemon.start_daemon = start_polling_fast
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
