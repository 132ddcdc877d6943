"""What the command line checks before it asks the daemon for anything, and how it says no.

Everything here runs *before* a job is created: an ``--out`` folder that cannot take the
results is refused before anything is rendered or paid (not after the whole render, with a
``.part`` file left behind); option values are checked in the CLI's own words ("--duration
must be 3-15 s", not a JSON field and a link to the OpenAPI document); and the provider the
user asked for is compared with the running daemon's, so a paid or a free run is never a
surprise. The daemon's refusals are put in the same words on the way back (:func:`in_cli_words`).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Paths

EXIT_USAGE = 2

MB = 1024 * 1024
#: Bytes a second of result video may take (1080p, high quality) and per job for the
#: pictures that go with it: a bound for the free-space check, not a promise.
BYTES_PER_SECOND = 2 * MB
BYTES_PER_JOB = 2 * MB


class CliError(Exception):
    def __init__(self, message: str, hint: str = "", code: int = EXIT_USAGE,
                 reason: str = "usage") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.reason = reason  # machine-readable, for --json refusals


# ---------------------------------------------------------------- option values


def number_in(flag: str, lo: float | None, hi: float | None, unit: str = "",
              kind: Callable[[str], Any] = int) -> Callable[[str], Any]:
    """An argparse ``type`` that refuses values outside ``[lo, hi]`` in the flag's words."""
    unit_text = f" {unit}" if unit else ""

    def parse(text: str) -> Any:
        what = "a whole number" if kind is int else "a number"
        try:
            value = kind(text)
        except ValueError:
            units = {"s": " (seconds)", "frames": " (frames)"}.get(unit, "")
            raise argparse.ArgumentTypeError(f"must be {what}{units}, not {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if lo is not None and hi is not None:
                span = f"{lo:g}–{hi:g}{unit_text}"
            elif lo is not None:
                span = f"at least {lo:g}{unit_text}"
            else:
                span = f"at most {hi:g}{unit_text}"
            raise argparse.ArgumentTypeError(f"must be {span} (got {text})")
        return value

    parse.__name__ = flag  # argparse names the type in some messages
    return parse


# ---------------------------------------------------------------- the --out folder


def _os_reason(exc: OSError) -> tuple[str, str]:
    """(what happened, what to do) for the usual reasons a folder cannot be written."""
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        return "you may not write there", "choose a folder you can write to"
    if code == errno.EROFS:
        return "that drive is read-only", "choose a folder on a writable drive"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the drive is full", "free some space or choose another drive"
    if code == errno.ENOTDIR:
        return "a part of the path is a file, not a folder", "check the path"
    return exc.strerror or str(exc), "check the path"


def check_out(folder: Path, need_bytes: int = 0) -> Path:
    """Make sure ``--out`` can take the results: a folder (created if missing), writable,
    with room for about ``need_bytes``. Leaves nothing behind; raises :class:`CliError`."""
    folder = folder.expanduser()
    if folder.exists() and not folder.is_dir():
        raise CliError(f"--out {folder} is a file, not a folder",
                       "give a folder for the results (it is created if missing)",
                       reason="bad_out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_fd, probe_name = tempfile.mkstemp(prefix=".kling-bridge-write-test-",
                                                dir=folder)
        try:
            os.write(probe_fd, b"\0" * 65536)
            os.fsync(probe_fd)
        finally:
            os.close(probe_fd)
            os.unlink(probe_name)
    except OSError as exc:
        what, fix = _os_reason(exc)
        raise CliError(f"--out {folder}: cannot write there ({what})", fix,
                       reason="bad_out") from None
    free = shutil.disk_usage(folder).free
    if need_bytes and free < need_bytes:
        raise CliError(
            f"--out {folder}: only {free / MB:.1f} MB free; the results need about "
            f"{need_bytes / MB:.0f} MB", "free some space or choose another drive",
            reason="bad_out")
    return folder


def bytes_needed(jobs: Sequence[dict[str, Any]]) -> int:
    """A generous bound on what a batch's results take on disk (from its planned jobs)."""
    total = 0
    for job in jobs:
        spec = job.get("spec") or {}
        seconds = 5.0
        source = spec.get("source")
        if isinstance(source, dict):
            try:
                from fractions import Fraction

                seconds = float(source["frame_count"] / Fraction(str(source["rate"])))
            except (KeyError, ValueError, ZeroDivisionError, TypeError):
                seconds = 15.0
        elif spec.get("duration"):
            seconds = float(spec["duration"])
        total += int(seconds * BYTES_PER_SECOND) + BYTES_PER_JOB
    return total


# ---------------------------------------------------------------- which provider


@dataclass(frozen=True)
class Asked:
    """The provider the user asked for, and where they said so (for messages)."""

    name: str
    where: str  # "--provider kling", "KLING_BRIDGE_PROVIDER=kling", "config.toml"


def asked_provider(flag: str | None, paths: Paths,
                   env: dict[str, str] | None = None) -> Asked | None:
    """``--provider``, else ``KLING_BRIDGE_PROVIDER``, else ``provider`` in config.toml;
    None when nobody asked (the default)."""
    environ = dict(os.environ) if env is None else env
    if flag:
        return Asked(flag, f"--provider {flag}")
    if environ.get("KLING_BRIDGE_PROVIDER"):
        value = environ["KLING_BRIDGE_PROVIDER"]
        return Asked(value, f"KLING_BRIDGE_PROVIDER={value}")
    try:
        data = tomllib.loads(paths.config_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    in_file = data.get("provider")
    if isinstance(in_file, str) and in_file:
        return Asked(in_file, f"provider = \"{in_file}\" in {paths.config_file}")
    return None


LOGIN_HINT = ("run `kling-bridge login` (or set KLING_API_KEY, or KLING_ACCESS_KEY and "
              "KLING_SECRET_KEY)")


def no_credential(asked: Asked) -> CliError:
    return CliError(
        f"the provider is kling ({asked.where}), but no Kling credential is set",
        f"{LOGIN_HINT}; or use --provider draft for free offline drafts",
        reason="no_credential")


# ---------------------------------------------------------------- the daemon's words -> ours

#: API request fields -> the flags that set them.
FLAGS = {
    "duration": "--duration", "prompt": "--prompt", "variants": "--variants",
    "resolution": "--resolution", "aspect_ratio": "--aspect", "shots": "--shot",
    "image": "--image", "audio": "--audio", "audio_start": "--audio-start",
    "audio_end": "--audio-end", "video": "--video", "handles": "--handles",
    "select.handles": "--handles", "select": "--select", "select.range": "--select range:",
    "look": "--preset/--prompt", "looks": "--preset/--prompt", "preset": "--preset",
    "clips": "the input file", "start_frame": "--start", "frame_count": "--frames",
    "provider": "--provider", "keep_audio": "--no-audio", "timeline_format": "--format",
    "negative_prompt": "--prompt",
}
_PYDANTIC = re.compile(r"^(?P<field>[\w.]+): (?P<msg>.+)$")


def in_cli_words(code: str, message: str, hint: str, command: str = "COMMAND"
                 ) -> tuple[str, str]:
    """A refusal from the API, reworded for the command line: flags, not JSON fields."""
    match = _PYDANTIC.match(message)
    if match and (code == "bad_request" or "see /v1/openapi.json" in hint):
        field = match.group("field")
        flag = FLAGS.get(field) or FLAGS.get(field.split(".")[-1]) or field
        msg = match.group("msg")
        msg = re.sub(r"Input should be less than or equal to (\S+)", r"must be at most \1", msg)
        msg = re.sub(r"Input should be greater than or equal to (\S+)",
                     r"must be at least \1", msg)
        msg = re.sub(r"^Input should be (.+)$", r"must be \1", msg)
        message = f"{flag} {msg}"
        hint = f"see kling-bridge {command} --help for the values it takes"
    for field, flag in FLAGS.items():
        if "." in field or not flag.startswith("--"):
            continue
        message = message.replace(f"'{field}'", flag)
        hint = hint.replace(f"'{field}'", flag)
    hint = hint.replace("GET /v1/presets", "kling-bridge presets")
    return message, hint
