"""Run the emulator standalone: ``python -m tests.kling_emulator --port 0``.

Prints one JSON line (``api_base``, ``cdn_port`` and the test credentials) on stdout once
listening, so a parent process can read it and point ``KLING_API_BASE`` at the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from .app import KlingEmulator
from .state import Account


async def _main(args: argparse.Namespace) -> None:
    account = Account(api_key=args.api_key, access_key=args.access_key,
                      secret_key=args.secret_key, balance_units=args.balance,
                      concurrency=args.concurrency)
    emu = KlingEmulator([account], submitted_seconds=args.submitted_seconds,
                        processing_seconds=args.processing_seconds, port=args.port,
                        cdn_port=args.cdn_port, output_height=args.output_height)
    await emu.start()
    print(json.dumps({"api_base": emu.base_url, "cdn_port": emu.cdn_port,
                      "api_key": account.api_key, "access_key": account.access_key,
                      "secret_key": account.secret_key}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await emu.stop()


def main(argv: list[str] | None = None) -> None:
    defaults = Account()
    p = argparse.ArgumentParser(prog="python -m tests.kling_emulator", description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cdn-port", type=int, default=0)
    p.add_argument("--api-key", default=defaults.api_key)
    p.add_argument("--access-key", default=defaults.access_key)
    p.add_argument("--secret-key", default=defaults.secret_key)
    p.add_argument("--balance", type=float, default=None, help="units left (default unlimited)")
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--submitted-seconds", type=float, default=0.2)
    p.add_argument("--processing-seconds", type=float, default=0.5)
    p.add_argument("--output-height", type=int, default=180)
    asyncio.run(_main(p.parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
