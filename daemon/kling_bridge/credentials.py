"""Kling credentials: an API key, or an access key + secret key pair.

The credential's type picks the API standard (a key -> the new standard; AK/SK -> the
legacy ``/v1`` tree with a JWT), so the user never has to know there are two.
The secret never leaves this object except into an ``Authorization`` header: ``repr`` and
``str`` are redacted so it cannot slip into a log line or an error message by accident.

Where a credential comes from, first match wins: the environment (automation and CI set
it there), then the OS keyring, then an opt-in 0600 file. The file exists only because
headless Linux usually has no keyring backend at all; writing secrets to disk is never
done silently, so it needs ``allow_file=True`` (``login --insecure-file``) every time.
Every message this module produces names *where* a secret lives, never the secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from .atomic import write_text
from .config import Paths

log = logging.getLogger(__name__)


# keyring imports every backend it ships to ask each whether it can serve; the macOS one
# looks for Apple's Security framework through ``ctypes.util.find_library``, which on Linux
# runs ldconfig, gcc and ld three times each (a dozen processes per daemon start) to find
# nothing. Off macOS that backend is never chosen whatever it finds (its priority says
# "macOS required" first), so the library is answered absent without the search.
if sys.platform != "darwin":
    sys.modules.setdefault("keyring.backends.macOS.api", None)  # type: ignore[arg-type]

#: Keyring service name; one entry (``KEYRING_USER``) holds the whole credential as JSON,
#: so an API key and an AK/SK pair can never be half-replaced by each other.
KEYRING_SERVICE = "kling-bridge"
KEYRING_USER = "default"

ENV_API_KEY = "KLING_API_KEY"
ENV_ACCESS_KEY = "KLING_ACCESS_KEY"
ENV_SECRET_KEY = "KLING_SECRET_KEY"

#: Backends that "work" but write secrets to disk unencrypted. Storing into one of them
#: would defeat the explicit opt-in the 0600 file requires, so they count as unusable.
_PLAINTEXT_BACKENDS = frozenset({"PlaintextKeyring"})


@dataclass(frozen=True)
class KlingCredential:
    api_key: str | None = field(default=None, repr=False)
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    source: str = "none"  # "environment" | "keyring" | "file" | "login" (parsed input) | "none"

    @property
    def kind(self) -> str:
        if self.api_key:
            return "api_key"
        if self.access_key and self.secret_key:
            return "access_key"
        return "none"

    @property
    def standard(self) -> str:
        """``new`` for an API key, ``legacy`` for AK/SK (new-standard paths refuse JWTs)."""
        return "legacy" if self.kind == "access_key" else "new"

    @property
    def configured(self) -> bool:
        return self.kind != "none"

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for redaction filters."""
        return tuple(s for s in (self.api_key, self.secret_key) if s)

    def __str__(self) -> str:
        return f"<Kling {self.kind} from {self.source}>"


class CredentialError(Exception):
    """A credential could not be read or stored. ``hint`` says what the user should do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class KeyringStatus(NamedTuple):
    usable: bool
    backend: str
    explanation: str


# ---------------------------------------------------------------------------------------
# Pure parsing: text or mappings -> KlingCredential. Messages never quote the input.


def _clean(raw: object, name: str, where: str) -> str:
    if not isinstance(raw, str):
        raise CredentialError(f"{where}: {name} must be a string.")
    value = raw.strip()
    if not value:
        raise CredentialError(f"{where}: {name} is empty.")
    if any(ch.isspace() for ch in value):
        raise CredentialError(
            f"{where}: {name} contains whitespace.",
            "Paste the key exactly as the Kling console shows it.",
        )
    return value


def _from_mapping(data: Mapping[str, Any], where: str, source: str) -> KlingCredential:
    """One shape for the keyring entry, the file and JSON input, so all agree."""
    known = {"api_key", "access_key", "secret_key"}
    present = {k for k in known if data.get(k) not in (None, "")}
    if "api_key" in present and present & {"access_key", "secret_key"}:
        raise CredentialError(
            f"{where}: holds both an API key and an access key pair.",
            "Keep one: an API key (new standard) or access_key + secret_key (legacy).",
        )
    if "api_key" in present:
        return KlingCredential(api_key=_clean(data["api_key"], "api_key", where), source=source)
    if present == {"access_key", "secret_key"}:
        return KlingCredential(
            access_key=_clean(data["access_key"], "access_key", where),
            secret_key=_clean(data["secret_key"], "secret_key", where),
            source=source,
        )
    if present:
        missing = ({"access_key", "secret_key"} - present).pop()
        raise CredentialError(
            f"{where}: has {present.pop()} but no {missing}.",
            "An access key is only usable together with its secret key.",
        )
    raise CredentialError(
        f"{where}: holds no api_key and no access_key/secret_key pair.",
        "Run `kling-bridge login` to store a credential again.",
    )


_LOGIN_HINT = (
    "Give one line with an API key, or an access key and secret key as two lines, "
    "'ACCESS:SECRET', or JSON {\"access_key\": ..., \"secret_key\": ...}."
)


def parse_login_input(text: str) -> KlingCredential:
    """Read what ``login --from-stdin`` was piped.

    Accepted: one line with an API key; two lines (access key, then secret key); one line
    ``ACCESS:SECRET``; JSON ``{"api_key": ...}`` or ``{"access_key": ..., "secret_key": ...}``.
    Errors describe the shape that was wrong and never echo the text (it is a secret).
    """
    try:
        return _parse_login_input(text)
    except CredentialError as exc:
        exc.hint = exc.hint or _LOGIN_HINT
        raise


def _parse_login_input(text: str) -> KlingCredential:
    where = "standard input"
    stripped = text.strip()
    if not stripped:
        raise CredentialError("Nothing was read from standard input.", _LOGIN_HINT)
    if stripped[0] in '{["':  # meant as JSON: never fall back to "one line = a key"
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            # exc.msg/lineno/colno describe the position only, never the document.
            raise CredentialError(
                f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}).",
                _LOGIN_HINT,
            ) from None
        if not isinstance(data, dict):
            raise CredentialError(f"{where}: JSON must be an object.", _LOGIN_HINT)
        unknown = sorted(set(data) - {"api_key", "access_key", "secret_key"})
        if unknown:
            raise CredentialError(
                f"{where}: unknown JSON field(s) {', '.join(unknown)}.", _LOGIN_HINT
            )
        return _from_mapping(data, where, "login")
    lines = [ln.strip() for ln in stripped.splitlines() if ln.strip()]
    if len(lines) == 1:
        line = lines[0]
        if ":" in line:
            ak, _, sk = line.partition(":")
            return _from_mapping({"access_key": ak, "secret_key": sk}, where, "login")
        return KlingCredential(api_key=_clean(line, "API key", where), source="login")
    if len(lines) == 2:
        return _from_mapping(
            {"access_key": lines[0], "secret_key": lines[1]}, where, "login"
        )
    raise CredentialError(f"{where}: expected one or two lines, got {len(lines)}.", _LOGIN_HINT)


def from_env(env: Mapping[str, str]) -> KlingCredential | None:
    """The environment's credential, if any. An API key wins over an AK/SK pair."""
    api_key = env.get(ENV_API_KEY, "").strip()
    if api_key:
        return KlingCredential(api_key=_clean(api_key, ENV_API_KEY, "environment"),
                               source="environment")
    ak = env.get(ENV_ACCESS_KEY, "").strip()
    sk = env.get(ENV_SECRET_KEY, "").strip()
    if ak and sk:
        return KlingCredential(
            access_key=_clean(ak, ENV_ACCESS_KEY, "environment"),
            secret_key=_clean(sk, ENV_SECRET_KEY, "environment"),
            source="environment",
        )
    if ak or sk:
        have, missing = (ENV_ACCESS_KEY, ENV_SECRET_KEY) if ak else (ENV_SECRET_KEY, ENV_ACCESS_KEY)
        raise CredentialError(
            f"{have} is set but {missing} is not.",
            f"Set {missing} too, set {ENV_API_KEY} instead, or unset {have}.",
        )
    return None


def describe(cred: KlingCredential) -> dict[str, Any]:
    """What status/health may show: where the credential came from, never any part of it."""
    return {
        "configured": cred.configured,
        "kind": cred.kind,
        "source": cred.source,
        "standard": cred.standard if cred.configured else None,
    }


# ---------------------------------------------------------------------------------------
# Keyring edge.


def _backend_name(kr: KeyringBackend) -> str:
    cls = type(kr)
    return f"{cls.__module__}.{cls.__qualname__}"


def _current_keyring(backend: KeyringBackend | None) -> KeyringBackend:
    return backend if backend is not None else keyring.get_keyring()


def _unusable_reason(kr: KeyringBackend) -> str | None:
    """Why ``kr`` cannot hold secrets, judged without touching it (None: looks usable)."""
    if isinstance(kr, fail.Keyring):
        return ("No keyring backend is available: no Secret Service or KWallet answers "
                "(usual on headless Linux, over SSH and in containers).")
    if isinstance(kr, null.Keyring):
        return "Keyring access is disabled (the null backend is configured)."
    if isinstance(kr, chainer.ChainerBackend) and not chainer.ChainerBackend.backends:
        return ("No keyring backend is available: the keyring chain is empty "
                "(usual on headless Linux, over SSH and in containers).")
    if type(kr).__name__ in _PLAINTEXT_BACKENDS:
        return (f"{_backend_name(kr)} stores secrets unencrypted on disk; kling-bridge "
                "will not store its credential there without your explicit opt-in.")
    return None


def keyring_status(backend: KeyringBackend | None = None) -> KeyringStatus:
    """Can the OS keyring hold our credential? Probes with a read (never a write)."""
    try:
        kr = _current_keyring(backend)
    except Exception as exc:  # keyring's own init can fail on broken configs
        return KeyringStatus(False, "unknown", f"The keyring library failed to start: {exc}")
    name = _backend_name(kr)
    reason = _unusable_reason(kr)
    if reason:
        return KeyringStatus(False, name, reason)
    try:
        kr.get_password(KEYRING_SERVICE, "__probe__")
    except Exception as exc:  # locked collection, no D-Bus session, ...
        return KeyringStatus(
            False, name, f"{name} is installed but does not answer ({type(exc).__name__}: {exc})."
        )
    return KeyringStatus(True, name, f"{name} answers.")


def _readable(kr: KeyringBackend) -> bool:
    """Worth reading from: a plaintext backend is read (the user put it there), not written."""
    return _unusable_reason(kr) is None or type(kr).__name__ in _PLAINTEXT_BACKENDS


def _read_keyring(kr: KeyringBackend) -> KlingCredential | None:
    if not _readable(kr):
        return None
    where = f"keyring entry {KEYRING_SERVICE}/{KEYRING_USER}"
    try:
        raw = kr.get_password(KEYRING_SERVICE, KEYRING_USER)
    except Exception as exc:
        log.warning("keyring %s could not be read (%s); trying the next source",
                    _backend_name(kr), type(exc).__name__)
        return None
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if not raw.startswith("{"):  # a bare key set by hand with `keyring set`
        return KlingCredential(api_key=_clean(raw, "API key", where), source="keyring")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise CredentialError(
            f"The {where} is not valid JSON.",
            "Run `kling-bridge logout`, then `kling-bridge login` again.",
        )
    return _from_mapping(data, where, "keyring")


# ---------------------------------------------------------------------------------------
# Opt-in file edge.


def _check_file_mode(path: Path) -> None:
    if os.name != "posix":
        return
    st = path.stat()
    if st.st_mode & 0o077:
        raise CredentialError(
            f"{path} is readable by other users (mode {stat.filemode(st.st_mode)}); "
            "refusing to use it.",
            f"Run `chmod 600 {path}` if you trust it, or delete it and run "
            "`kling-bridge login` again (the key may have been exposed: consider rotating it).",
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise CredentialError(
            f"{path} belongs to another user (uid {st.st_uid}); refusing to use it.",
            "Delete it and run `kling-bridge login` again.",
        )


def _read_file(path: Path) -> KlingCredential | None:
    if not path.exists():
        return None
    _check_file_mode(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CredentialError(
            f"{path} could not be read as JSON ({type(exc).__name__}).",
            "Delete it and run `kling-bridge login --insecure-file` again.",
        ) from None
    if not isinstance(data, dict):
        raise CredentialError(f"{path} must hold a JSON object.",
                              "Delete it and run `kling-bridge login --insecure-file` again.")
    return _from_mapping({k: v for k, v in data.items() if k != "version"}, str(path), "file")


def _payload(cred: KlingCredential) -> dict[str, str]:
    if cred.kind == "api_key":
        assert cred.api_key is not None
        return {"api_key": cred.api_key}
    assert cred.access_key is not None and cred.secret_key is not None
    return {"access_key": cred.access_key, "secret_key": cred.secret_key}


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically; the bytes never sit in a file others can read
    (the temp file is made 0600 by ``open`` itself: :func:`kling_bridge.atomic.write_bytes`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.parent.chmod(0o700)
    write_text(path, text, private=True)


# ---------------------------------------------------------------------------------------
# Public entry points.


def load_credential(
    paths: Paths,
    env: Mapping[str, str] | None = None,
    *,
    keyring_backend: KeyringBackend | None = None,
) -> KlingCredential:
    """Environment, then keyring, then the opt-in file; ``source="none"`` when none has one.

    Raises :class:`CredentialError` when a source exists but is unusable (half an AK/SK
    pair in the environment, a file others can read): silently skipping it would make
    the bridge use a different account than the user thinks.
    """
    env = os.environ if env is None else env
    cred = from_env(env)
    if cred:
        return cred
    try:
        kr = _current_keyring(keyring_backend)
    except Exception as exc:
        log.warning("keyring unavailable (%s); trying the credentials file", type(exc).__name__)
    else:
        cred = _read_keyring(kr)
        if cred:
            return cred
    cred = _read_file(paths.credentials_file)
    return cred or KlingCredential(source="none")


def store_credential(
    cred: KlingCredential,
    paths: Paths,
    *,
    allow_file: bool = False,
    keyring_backend: KeyringBackend | None = None,
) -> str:
    """Keep ``cred`` for later runs; returns ``"keyring"`` or ``"file"``.

    The keyring is used whenever it works. The file is written only when it does not and
    the user opted in (``allow_file``); otherwise nothing is stored and the error says why.
    """
    if not cred.configured:
        raise CredentialError("There is no credential to store.", _LOGIN_HINT)
    payload = json.dumps(_payload(cred))
    status = keyring_status(keyring_backend)
    if status.usable:
        kr = _current_keyring(keyring_backend)
        try:
            kr.set_password(KEYRING_SERVICE, KEYRING_USER, payload)
        except Exception as exc:
            if not allow_file:
                raise CredentialError(
                    f"The keyring ({status.backend}) refused the credential "
                    f"({type(exc).__name__}). Nothing was stored.",
                    _file_hint(paths),
                ) from None
            log.warning("keyring refused the credential (%s); using the 0600 file",
                        type(exc).__name__)
        else:
            return "keyring"
    if not allow_file:
        raise CredentialError(
            f"No keyring backend works on this machine (headless Linux?). {status.explanation} "
            "Nothing was stored.",
            _file_hint(paths),
        )
    _write_private(paths.credentials_file, json.dumps({"version": 1, **_payload(cred)}))
    return "file"


def _file_hint(paths: Paths) -> str:
    return (
        f"Use environment variables {ENV_API_KEY} (or {ENV_ACCESS_KEY} and {ENV_SECRET_KEY}), "
        f"or re-run with --insecure-file to keep them in a 0600 file at "
        f"{paths.credentials_file}."
    )


def delete_credential(
    paths: Paths, *, keyring_backend: KeyringBackend | None = None
) -> list[str]:
    """Remove every stored credential; returns where one was removed from.

    The environment is the user's own and is left alone (``logout`` says so).
    """
    removed: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        paths.credentials_file.unlink()
        removed.append("file")
    try:
        kr = _current_keyring(keyring_backend)
    except Exception:
        return removed
    if not _readable(kr):
        return removed
    try:
        if kr.get_password(KEYRING_SERVICE, KEYRING_USER) is not None:
            kr.delete_password(KEYRING_SERVICE, KEYRING_USER)
            removed.insert(0, "keyring")
    except keyring.errors.PasswordDeleteError:
        pass
    except Exception as exc:
        done = f" Removed from: {', '.join(removed)}." if removed else ""
        raise CredentialError(
            f"The keyring entry {KEYRING_SERVICE}/{KEYRING_USER} could not be removed "
            f"({type(exc).__name__}).{done}",
            f"Unlock the keyring and retry, or run `keyring del {KEYRING_SERVICE} {KEYRING_USER}`.",
        ) from None
    return removed
