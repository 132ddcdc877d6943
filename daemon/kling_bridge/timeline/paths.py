"""Media locations as editors write them, and back.

Every editor spells a media location differently: Premiere writes
``file://localhost/D%3a/media/x.mov``, Final Cut ``file:///Volumes/x%20y.mov``, Resolve a bare
``/Volumes/x y.mov`` or ``D:\\media\\x.mov``, Avid EDL comments ``S:\\path\\to\\x.exr``.
OpenTimelineIO's ``url_utils.filepath_from_url`` cuts a name at an unencoded ``#`` and its
``url_from_filepath`` does not percent-encode, so a clip named ``take #1.mov`` would be lost.
These two functions are the only place the bridge turns one into the other.

Paths come back with forward slashes (``D:/media/x.mov``, ``//server/share/x.mov``): Python
and ffmpeg accept them on Windows, and they compare equal whatever machine runs the tests.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import PureWindowsPath
from urllib.parse import quote, unquote

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")
_DRIVE = re.compile(r"^[A-Za-z]:([\\/]|$)")
_SLASH_DRIVE = re.compile(r"^/[A-Za-z]:(/|$)")


def is_windows_path(path: str) -> bool:
    """``D:\\x``, ``D:/x`` or a UNC ``\\\\server\\share`` path (as opposed to a POSIX one)."""
    return (path[1:2] == ":" and bool(_DRIVE.match(path))) or path.startswith("\\\\")


@lru_cache(maxsize=16384)  # read, select and write-back each ask for every clip's file
def path_from_url(url: str) -> str | None:
    """The local file a media reference points at, or None when it is not a local file.

    Bare paths (Resolve, EDL comments) are returned as they are -- a ``%`` in them is a
    character, not an escape. ``file:`` URLs are percent-decoded, an unencoded ``#`` or ``?``
    stays part of the name, ``localhost`` is dropped, ``/D:/x`` becomes ``D:/x`` and a host
    becomes a UNC path ``//host/share/x``.
    """
    if not url:
        return None
    if is_windows_path(url):
        return url.replace("\\", "/")
    match = _SCHEME.match(url)
    if match is None:
        return url  # bare POSIX or relative path
    if match.group("scheme").lower() != "file":
        return None  # http(s), s3...: not a file on this machine
    rest = url[match.end() :]
    host = ""
    if rest.startswith("//"):
        rest = rest[2:]
        host, sep, tail = rest.partition("/")
        rest = sep + tail
    path = unquote_path(rest)
    if host and host.lower() != "localhost":
        return f"//{host}{path}"
    if _SLASH_DRIVE.match(path):
        path = path[1:]
    return path.replace("\\", "/") if _DRIVE.match(path) else path


def url_from_path(path: str) -> str:
    """A ``file:`` URL every adapter and editor can read back, percent-encoded.

    Relative paths (inside ``.otiod`` bundles) stay relative, only escaped.
    """
    if is_windows_path(path) or path.startswith("//"):
        win = PureWindowsPath(path.replace("/", "\\"))
        if win.is_absolute():
            return win.as_uri()
    if path.startswith("/"):
        # what PurePosixPath.as_uri() gives, without building a path object per clip
        return "file://" + quote_path(_SLASHES.sub("/", path) if "//" in path else path)
    return quote(path.replace("\\", "/"))


_SLASHES = re.compile(r"/{2,}")
_HEX = "0123456789abcdefABCDEF"
_BYTE = {a + b: bytes.fromhex(a + b) for a in _HEX for b in _HEX}


def unquote_path(text: str) -> str:
    """``urllib.parse.unquote(text, errors="surrogateescape")``, character for character,
    without urllib's per-call regex split (every clip's URL passes here on read and select)."""
    if "%" not in text:
        return text
    if not text.isascii():
        return unquote(text, encoding="utf-8", errors="surrogateescape")
    pieces = text.split("%")
    decoded = [pieces[0].encode("ascii")]
    for piece in pieces[1:]:
        byte = _BYTE.get(piece[:2])
        if byte is None:
            decoded.append(b"%" + piece.encode("ascii"))
        else:
            decoded.append(byte + piece[2:].encode("ascii"))
    return b"".join(decoded).decode("utf-8", "surrogateescape")
_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/"
_QUOTED = {byte: chr(byte) if byte in _SAFE else f"%{byte:02X}" for byte in range(256)}


def quote_path(path: str) -> str:
    """``urllib.parse.quote(path, safe="/", errors="surrogateescape")``, byte for byte, in
    one C-level pass (urllib quotes a byte at a time in Python; results quote thousands)."""
    data = path.encode("utf-8", "surrogateescape")
    if not data.translate(None, _SAFE):  # nothing to escape (most paths): as it is
        return path
    return data.decode("latin-1").translate(_QUOTED)


def is_bare_path(url: str) -> bool:
    """True when a target_url is a path rather than a URL (Resolve's own exports)."""
    if not url:
        return False
    return is_windows_path(url) or _SCHEME.match(url) is None


def same_style(url: str, path: str) -> str:
    """``path`` spelled the way ``url`` is: bare when the editor wrote bare paths.

    Resolve only re-imports OTIO files shaped like its own, which use bare paths; every other
    tool expects URLs.
    """
    return path if is_bare_path(url) else url_from_path(path)
