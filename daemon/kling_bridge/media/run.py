"""Running ffmpeg/ffprobe: blocking and asyncio flavours, and atomic outputs.

Every media operation ends here, so three promises are kept in one place: the daemon's
event loop never blocks (``arun`` uses an asyncio subprocess and kills it on cancel),
memory stays flat (only a bounded tail of stderr is kept), and no half-written file ever
carries a final name (``atomic_output``: :mod:`kling_bridge.atomic` writes beside the
target, flushes and renames).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

from .. import atomic
from ..children import BACKGROUND_NICE, achild, child
from .errors import FfmpegFailed, ToolMissing

_STDERR_TAIL = 40  # lines kept for error messages


def ffmpeg_bin() -> str:
    return _tool("ffmpeg", "KLING_BRIDGE_FFMPEG")


def ffprobe_bin() -> str:
    return _tool("ffprobe", "KLING_BRIDGE_FFPROBE")


def _tool(name: str, env: str) -> str:
    found = os.environ.get(env) or shutil.which(name)
    if not found:
        raise ToolMissing(
            None,
            f"{name} is not installed or not on PATH",
            "install ffmpeg (Debian/Ubuntu: apt install ffmpeg; macOS: brew install ffmpeg) "
            f"or point {env} at the binary",
        )
    return found


def ffmpeg_args(*args: str) -> list[str]:
    """Quiet, non-interactive ffmpeg; errors still reach stderr for our messages."""
    return [ffmpeg_bin(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args]


def _tail(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-_STDERR_TAIL:])


def run(args: Sequence[str], *, subject: str | Path | None = None, what: str = "ffmpeg") -> str:
    """Run a command to completion; return stdout. Raise :class:`FfmpegFailed` naming ``subject``.

    stdout is returned whole, so only use this for small answers (ffprobe JSON); large
    outputs go to files.
    """
    try:
        with child(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE) as proc:
            stdout, stderr = proc.communicate()
    except FileNotFoundError as exc:  # the binary vanished between which() and exec
        raise ToolMissing(None, f"cannot start {args[0]}: {exc}") from exc
    if proc.returncode != 0:
        detail = _tail(stderr.decode("utf-8", "replace"))
        raise FfmpegFailed(
            subject, f"{what} failed: {detail.splitlines()[-1] if detail else 'no message'}",
            "the file may be damaged or in a format ffmpeg cannot write; see the log",
            detail=detail,
        )
    return stdout.decode("utf-8", "replace")


async def arun(
    args: Sequence[str], *, subject: str | Path | None = None, what: str = "ffmpeg"
) -> None:
    """Async twin of :func:`run` for long jobs; output goes to files, stderr tail is kept.

    Cancelling the awaiting task kills ffmpeg, so a cancelled job leaves no process behind.
    It runs at a lower priority (``BACKGROUND_NICE``): job work yields to the API and to
    the editor's own application.
    """
    tail: deque[str] = deque(maxlen=_STDERR_TAIL)
    try:
        async with achild(args, nice=BACKGROUND_NICE, stdin=asyncio.subprocess.DEVNULL,
                          stdout=asyncio.subprocess.DEVNULL,
                          stderr=asyncio.subprocess.PIPE) as proc:
            assert proc.stderr is not None
            async for raw in proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    tail.append(line)
            code = await proc.wait()
    except FileNotFoundError as exc:
        raise ToolMissing(None, f"cannot start {args[0]}: {exc}") from exc
    if code != 0:
        detail = "\n".join(tail)
        raise FfmpegFailed(
            subject, f"{what} failed: {tail[-1] if tail else f'exit code {code}'}",
            "the file may be damaged or in a format ffmpeg cannot write; see the log",
            detail=detail,
        )


@contextlib.contextmanager
def atomic_output(dest: Path) -> Iterator[Path]:
    """:func:`kling_bridge.atomic.atomic_output` for an ffmpeg output: a run that ends well
    but writes nothing is a failure naming ``dest``, not a silent no-op."""
    with atomic.atomic_output(dest) as tmp:
        yield tmp
        if not tmp.exists():
            raise FfmpegFailed(dest, "no output was written")
