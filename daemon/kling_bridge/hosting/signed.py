"""Signed, expiring links served by a small listener of its own (for users with a tunnel).

Threat model: the listener is reachable from the internet (that is its point), so it
serves nothing but the files published for live jobs. It is a separate aiohttp
application on its own port -- none of the daemon's API routes exist on it.

- A URL names a job (hash of its id) and a random per-file token; the file's path never
  appears in the URL and is looked up in the job's manifest, so there is no path to
  traverse and no directory to list.
- Each URL carries an expiry and an HMAC-SHA256 over (job, token, expiry) with a key kept
  in a 0600 file; a wrong or expired signature gets the same bare 404 as a missing file.
- ``release`` deletes the job's manifest: its links die at once, signature or not.
- Manifests and the key live on disk, so links stay valid across a daemon restart while
  Kling is still fetching a clip for a task created before it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ..atomic import write_bytes, write_text
from .base import HostingError

_JOB = re.compile(r"^[0-9a-f]{32}$")
_TOKEN = re.compile(r"^[0-9a-f]{16}$")


def load_key(path: Path) -> bytes:
    """The signing key: 32 random bytes, created 0600 on first use."""
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    write_bytes(path, key, private=True)
    return key


def job_hash(job_id: str) -> str:
    return hashlib.sha256(job_id.encode()).hexdigest()[:32]


class SignedLinkHost:
    name = "signed"

    def __init__(
        self,
        registry_dir: Path,
        key_file: Path,
        *,
        public_base: str | None = None,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        ttl_seconds: int = 6 * 3600,
    ) -> None:
        self.registry = registry_dir
        self._key_file = key_file
        self._key: bytes | None = None
        self._public_base = public_base.rstrip("/") + "/" if public_base else None
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.ttl = ttl_seconds
        self._runner: web.AppRunner | None = None
        self.served = 0  # successful file answers (diagnostics, tests)

    def __repr__(self) -> str:
        return f"SignedLinkHost({self.public_base or 'not started'})"

    @property
    def public_base(self) -> str | None:
        if self._public_base:
            return self._public_base
        if self._runner is not None:
            return f"http://{self.listen_host}:{self.listen_port}/"
        return None

    def _signing_key(self) -> bytes:
        if self._key is None:
            self._key = load_key(self._key_file)
        return self._key

    def _sign(self, job: str, token: str, exp: int) -> str:
        msg = f"{job}/{token}/{exp}".encode()
        return hmac.new(self._signing_key(), msg, hashlib.sha256).hexdigest()

    def _manifest(self, job: str) -> Path:
        return self.registry / f"{job}.json"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=1024)
        app.router.add_route("GET", "/m/{job}/{token}/{name}", self._serve)
        app.router.add_route("HEAD", "/m/{job}/{token}/{name}", self._serve)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.listen_host, self.listen_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise HostingError(
                f"Could not open the media link listener on {self.listen_host}:"
                f"{self.listen_port} ({exc.strerror or exc})",
                hint="pick a free hosting.listen_port",
            ) from None
        if runner.addresses:
            self.listen_port = int(runner.addresses[0][1])
        self._runner = runner

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ port

    async def publish(self, path: Path, job_id: str) -> str:
        await self.start()
        base = self.public_base
        if base is None:  # pragma: no cover - start() sets it
            raise HostingError("The media link listener is not running")
        if not path.is_file():
            raise HostingError(f"Cannot publish '{path}': not a file", hint="check the path")
        job = job_hash(job_id)
        manifest = self._manifest(job)
        data: dict[str, Any] = {"job_id": job_id, "files": {}}
        with contextlib.suppress(FileNotFoundError, ValueError):
            data = json.loads(manifest.read_text("utf-8"))
        resolved = str(path.resolve())
        token = next((t for t, f in data["files"].items() if f["path"] == resolved), None)
        if token is None:
            token = secrets.token_hex(8)
            data["files"][token] = {"path": resolved, "name": path.name}
            write_text(manifest, json.dumps(data))
        exp = int(time.time()) + self.ttl
        sig = self._sign(job, token, exp)
        return f"{base}m/{job}/{token}/{quote(path.name)}?e={exp}&s={sig}"

    async def release(self, job_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._manifest(job_hash(job_id)).unlink()

    # ------------------------------------------------------------------ listener

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        job, token = request.match_info["job"], request.match_info["token"]
        missing = web.Response(status=404, text="not found")
        if not _JOB.match(job) or not _TOKEN.match(token):
            return missing
        try:
            exp = int(request.query.get("e", ""))
        except ValueError:
            return missing
        sig = request.query.get("s", "")
        if exp < time.time() or not hmac.compare_digest(sig, self._sign(job, token, exp)):
            return missing
        try:
            data = json.loads(self._manifest(job).read_text("utf-8"))
            entry = data["files"][token]
        except (FileNotFoundError, ValueError, KeyError):
            return missing
        path = Path(entry["path"])
        if request.match_info["name"] != entry["name"] or not path.is_file():
            return missing
        self.served += 1
        resp = web.FileResponse(path, headers={
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(entry['name'])}",
        })
        return resp
