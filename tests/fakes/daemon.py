"""Run the real daemon (``kling_bridge.daemon.run_daemon``) with the durable fake provider.

For subprocess tests that kill the daemon: ``python -m tests.fakes.daemon PROVIDER_DIR``
with ``KLING_BRIDGE_HOME`` set. Everything but the provider and pipeline is production code.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from kling_bridge.config import Paths, load_settings
from kling_bridge.daemon import run_daemon
from tests.fakes.pipeline import PassthroughPipeline
from tests.fakes.provider import FakeProvider


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("provider_dir", type=Path)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    settings = load_settings(overrides={"server.port": 0})
    settings.provider = "fake"  # type: ignore[assignment]
    settings.queue.concurrency["fake"] = args.concurrency
    settings.queue.backoff_base = 0.05
    settings.queue.backoff_cap = 0.5
    provider = FakeProvider(args.provider_dir, delay=args.delay)
    asyncio.run(
        run_daemon(
            settings,
            Paths.resolve(),
            providers={"fake": provider},
            pipeline=PassthroughPipeline(),
            poll_intervals={"fake": (0.05, 0.2)},
        )
    )


if __name__ == "__main__":
    main()
