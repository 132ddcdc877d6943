"""Logging that cannot leak a secret.

The bridge handles three kinds of secret: the Kling API key or secret key, the daemon's
own bearer token, and signed URLs (S3 presigned links, our signed-link listener) that
grant access to a user's footage. Any of them can reach a log line through a place nobody
thought of -- an exception message from a library, a repr of a request, botocore at DEBUG,
aiohttp's access log. So redaction happens in one filter on *our handlers*, which sit on
the root logger and therefore see every library's records, after the message is fully
formatted (args, exception text and stack included), instead of trusting each call site.

Two layers: exact matches of every registered secret value (``add_secret``; the daemon
registers its token and the credential's secrets at startup), and shapes that are
secrets whoever made them (Bearer tokens, JWTs, signature/token query values, key=value
pairs and mapping entries whose key says secret/token/password/api key).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import re
import sys
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from .config import Paths

REDACTED = "[REDACTED]"
LOGGER_NAME = "kling_bridge"
#: Shorter values are not secrets (and redacting them would shred every line).
MIN_SECRET_LENGTH = 6
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"

_SENSITIVE_KEY = re.compile(
    r"secret|token|password|passwd|api[_-]?key|access[_-]?key|authorization|signature|"
    r"credential|cookie",
    re.IGNORECASE,
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values, whatever the scheme (Bearer, Basic, AWS4-HMAC-SHA256).
    (
        re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z0-9-]+\s+)?)"
                   r"[^\s\"',;]+"),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
    # JWTs: a base64url JSON header ('{"' encodes to "eyJ"), payload, optional signature.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # Query values that are credentials: presigned S3 links, signed links, API keys in URLs.
    (
        re.compile(
            r"(?i)([?&](?:x-amz-signature|x-amz-security-token|x-amz-credential|signature|sig|"
            r"token|access_token|api_key|apikey|key|password|secret)=)[^&#\s\"'<>]+"
        ),
        rf"\1{REDACTED}",
    ),
    # SigV2/SigV4 signatures outside a query string (AWS4-HMAC-SHA256 header values).
    (re.compile(r"(?i)\b(signature=)(?!\[REDACTED\])[A-Za-z0-9%/+=_-]+"), rf"\1{REDACTED}"),
    # key=value / "key": "value" in free text (reprs of dicts, config dumps, env dumps).
    (
        re.compile(
            r"(?i)\b([\w-]*(?:secret|token|password|passwd|api[_-]?key|access[_-]?key)[\w-]*"
            r"[\"']?\s*[:=]\s*[\"']?)(?![\"']?\[REDACTED\])[^\s\"',;}&]+"
        ),
        rf"\1{REDACTED}",
    ),
)

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None
_HANDLER_TAG = "_kling_bridge_handler"


def add_secret(value: str | None) -> None:
    """Redact ``value`` (and its URL-encoded form) from every later log line."""
    global _secret_re
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    variants = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    with _lock:
        if variants <= _secrets:
            return
        _secrets.update(variants)
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial leftovers
        _secret_re = re.compile("|".join(re.escape(s) for s in ordered))


def forget_secrets() -> None:
    """Drop every registered secret (tests; a daemon keeps them for its lifetime)."""
    global _secret_re
    with _lock:
        _secrets.clear()
        _secret_re = None


def redact(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped value replaced.

    Public because log lines are not the only exit: API error answers and job rows can
    pass through it too.
    """
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for regex, replacement in _PATTERNS:
        text = regex.sub(replacement, text)
    return text


def redact_value(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` with mapping entries under sensitive keys replaced, recursively.

    Never mutates its input: the caller's dict may be a live request or settings object.
    """
    if _depth > 20:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _SENSITIVE_KEY.search(k)
            else redact_value(v, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        items = [redact_value(v, _depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, str):
        return redact(value)
    return value


class RedactingFilter(logging.Filter):
    """Rewrites a record in place so every handler after it sees only the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if isinstance(record.args, Mapping | tuple):
                record.args = redact_value(record.args)
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the line (or leak its args)
            message = f"{record.msg!s} (unformattable args)"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter(FORMAT)
_FILTER = RedactingFilter()


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The log holds paths and prompts: created 0600 whatever the umask, rotations too."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def _tagged(handler: logging.Handler) -> logging.Handler:
    setattr(handler, _HANDLER_TAG, True)
    handler.addFilter(_FILTER)
    handler.setFormatter(_FORMATTER)
    return handler


def shutdown_logging() -> None:
    """Detach and close the handlers ``setup_logging`` installed (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
            with contextlib.suppress(Exception):
                handler.close()


def parse_level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.strip().upper())
    if not isinstance(value, int):
        raise ValueError(
            f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
        )
    return value


def setup_logging(
    paths: Paths,
    level: str | int = "INFO",
    secrets: Iterable[str] = (),
    console: bool = False,
    *,
    max_bytes: int = MAX_BYTES,
    backups: int = BACKUPS,
) -> logging.Logger:
    """Log to a rotating file at ``paths.log_file`` (and stderr if ``console``), redacted.

    Calling it again replaces the previous handlers instead of adding more, so the CLI
    and the daemon may both call it. Returns the ``kling_bridge`` logger.
    """
    numeric = parse_level(level)
    for secret in secrets:
        add_secret(secret)
    shutdown_logging()
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        paths.log_dir.chmod(0o700)
    root = logging.getLogger()
    # Ours first: the filter rewrites the record in place, so handlers someone else
    # attached (a test runner's, an embedding app's) then only see the redacted record.
    others = list(root.handlers)
    for handler in others:
        root.removeHandler(handler)
    root.addHandler(_tagged(PrivateRotatingFileHandler(
        paths.log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )))
    if console:
        root.addHandler(_tagged(logging.StreamHandler(sys.stderr)))
    for handler in others:
        root.addHandler(handler)
    root.setLevel(numeric)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.NOTSET)
    return logger
