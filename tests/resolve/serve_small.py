"""``kling-bridge serve`` as the plugin's tests run it: the real command in its own process,
its drafts rendered small.

    python serve_small.py            (same environment as ``kling-bridge serve``)

The Resolve tests check what the plugin does with the daemon's answers (takes, tracks,
frames, rates, markers, chains, the comparison picture), never a draft's size. Rendered at
Kling's sizes, a 160x90 clip was blown up to 1244x700 before its look ran and every look
rendered at 720 pixels high: ~80% of these tests' CPU. This starts the same ``serve``
command after :func:`tests.chains.small.daemons_render_small` (what the chain and command
line tests do to their in-process daemons): drafts 180 pixels high whatever resolution is
asked, the fastest encoders, everything else as a user's daemon has it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from tests.chains.small import daemons_render_small  # noqa: E402

from kling_bridge import cli  # noqa: E402


def main() -> int:
    patch = pytest.MonkeyPatch()
    try:
        daemons_render_small(patch)
        return cli.main(["serve", *sys.argv[1:]])
    finally:
        patch.undo()


if __name__ == "__main__":
    sys.exit(main())
