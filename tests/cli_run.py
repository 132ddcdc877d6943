"""``kling-bridge ARGS`` run inside the test's process, answered like ``subprocess.run``.

The console script is ``kling_bridge.cli:main``; calling it here runs the same code on the
same arguments, environment and standard streams, and gives its exit code (argparse's
``SystemExit`` included), stdout and stderr. What it saves is a Python start-up and the
CLI's imports (~0.6 s of CPU a call), which the tests that talk to a daemon paid a dozen
times each. Tests where the user's process itself is the point (a fresh process's keyring
detection, ``serve`` as a real daemon, the installed console script in
``tests/installer``) still start one.
"""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest

from kling_bridge.cli import main


def cli(*args: str, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI on ``args`` with ``env`` added to the environment and ``stdin`` as its
    input; nothing it changes (environment, standard streams) outlives the call."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        mp.setattr(sys, "stdin", io.StringIO(stdin or ""))
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's refusals, as the process would exit
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(["kling-bridge", *args], code, out.getvalue(),
                                       err.getvalue())
