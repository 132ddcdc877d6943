"""HTTP transport to Kling: envelopes, error translation, token refresh, downloads.

Two sessions on purpose. The API session adds ``Authorization`` per request; the download
session has no default headers and no cookie jar, and follows redirects by hand, so no
credential can reach the result host (Kling's signed URLs redirect to a CDN), whatever the
redirect chain looks like.

Token refresh and the create call: a 1003/1004 answer is an authentication refusal, given
before Kling looks at the body -- like every 401 it means "nothing happened" (kling-api.md
lists it among the auth codes, not among the server-side ones that may have acted). So
re-signing and re-sending once is safe even for a create; it is done only when a new token
can differ (a JWT), never for an API key. Every other failure of a create is raised for the
engine to look the task up by its external id -- except a connection that was never
made (refused, unresolvable): nothing was sent, so it is reported as "not created".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp

from ...atomic import atomic_output
from ...media.errors import MediaError
from ...media.facts import verify_video
from ..base import ErrorKind, ProviderError
from .auth import Auth
from .errors import connection_error, from_answer, not_connected, scrub

log = logging.getLogger("kling_bridge.providers.kling")

_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 1 << 16


class _Truncated(Exception):
    """The body ended before its announced length."""


class KlingClient:
    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        secrets: tuple[str, ...] = (),
        timeout: float = 60.0,
        download_timeout: float = 600.0,
        max_connections: int = 16,
        max_resumes: int = 6,
        resume_backoff: float = 0.2,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = auth
        self._secrets = secrets
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._dl_timeout = aiohttp.ClientTimeout(total=download_timeout, sock_read=60)
        self._max_connections = max_connections
        self._max_resumes = max_resumes
        self._resume_backoff = resume_backoff
        self._api: aiohttp.ClientSession | None = None
        self._dl: aiohttp.ClientSession | None = None
        self.refreshes = 0  # tokens re-signed after a 1003/1004 (diagnostics, tests)

    def __repr__(self) -> str:
        return f"KlingClient({self.base_url!r}, {self._auth.kind})"

    def _api_session(self) -> aiohttp.ClientSession:
        if self._api is None or self._api.closed:
            self._api = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._max_connections),
            )
        return self._api

    def _dl_session(self) -> aiohttp.ClientSession:
        if self._dl is None or self._dl.closed:
            self._dl = aiohttp.ClientSession(
                timeout=self._dl_timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                connector=aiohttp.TCPConnector(limit=self._max_connections),
            )
        return self._dl

    async def aclose(self) -> None:
        for session in (self._api, self._dl):
            if session is not None and not session.closed:
                await session.close()

    # ------------------------------------------------------------------ API calls

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        creating: bool = False,
    ) -> Any:
        """Send one API request; return the envelope's ``data`` or raise ``ProviderError``.

        ``creating`` marks the paid call: its transport failures and server errors come
        back with ``maybe_created=True``.
        """
        for attempt in range(2):
            headers = {"Authorization": self._auth.header(), "Accept": "application/json"}
            try:
                async with self._api_session().request(
                    method,
                    self.base_url + path,
                    json=body,
                    params=params,
                    headers=headers,
                    allow_redirects=False,
                ) as resp:
                    status = resp.status
                    text = await resp.text()
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
            except TimeoutError:
                log.debug("kling %s %s: timed out", method, path)
                raise connection_error("timed out", creating=creating) from None
            except aiohttp.ClientConnectorError as exc:
                # No connection was made (refused, no route, DNS, TLS handshake): not a
                # byte of the request left this machine, so nothing can have been created.
                cause = getattr(exc, "os_error", None)  # absent on certificate errors
                log.debug("kling %s %s: cannot connect (%s)", method, path, type(exc).__name__)
                raise not_connected(self.base_url, cause if isinstance(cause, OSError) else None,
                                    type(exc).__name__) from None
            except aiohttp.ClientError as exc:
                log.debug("kling %s %s: %s", method, path, type(exc).__name__)
                raise connection_error(type(exc).__name__, creating=creating) from None
            envelope = _envelope(text)
            if envelope is None:
                log.debug("kling %s %s: HTTP %s, not an envelope", method, path, status)
                if status < 400:
                    raise ProviderError(
                        ErrorKind.SERVER,
                        f"Kling answered HTTP {status} with something that is not its API "
                        "envelope",
                        hint="check KLING_API_BASE (kling.api_base / region)",
                        http_status=status,
                        maybe_created=creating,
                    )
                raise from_answer(status, None, scrub(text[:200], self._secrets),
                                  creating=creating, secrets=self._secrets)
            code = _int(envelope.get("code"))
            request_id = str(envelope.get("request_id") or "")
            log.debug("kling %s %s: HTTP %s code %s request %s", method, path, status, code,
                      request_id)
            if code == 0 and status < 400:
                return envelope.get("data")
            err = from_answer(
                status,
                code,
                str(envelope.get("message") or ""),
                creating=creating,
                secrets=self._secrets,
                request_id=request_id,
                retry_after=retry_after,
            )
            if code in (1003, 1004) and attempt == 0 and self._auth.refresh():
                self.refreshes += 1
                log.info("kling: access token refused (%s); signed a new one", code)
                continue
            raise err
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ downloads

    async def _open(self, url: str, headers: Mapping[str, str]) -> aiohttp.ClientResponse:
        """GET following redirects by hand: only ``headers`` (a Range) ever go along."""
        session = self._dl_session()
        for _ in range(6):
            resp = await session.get(url, headers=dict(headers), allow_redirects=False)
            if resp.status in _REDIRECTS and "Location" in resp.headers:
                location = resp.headers["Location"]
                resp.release()
                url = urljoin(url, location)
                continue
            return resp
        raise ProviderError(ErrorKind.SERVER, "Too many redirects fetching a Kling result")

    async def download(self, url: str, dest: Path) -> Path:
        """Stream ``url`` to a temp file beside ``dest``, resuming with Range after a drop,
        check it is a video (its headers, or ffprobe), then rename it into place."""
        with atomic_output(dest) as tmp:
            have = 0
            failures = 0
            while True:
                try:
                    have = await self._fetch_into(url, tmp, have)
                    break
                except (_Truncated, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError,
                        TimeoutError) as exc:
                    failures += 1
                    have = tmp.stat().st_size if tmp.exists() else 0
                    log.debug("kling download interrupted (%s) at %d bytes", type(exc).__name__,
                              have)
                    if failures > self._max_resumes:
                        raise connection_error(
                            f"download kept failing after {have} bytes", creating=False
                        ) from None
                    await asyncio.sleep(self._resume_backoff * 2 ** (failures - 1))
            try:
                await verify_video(tmp)
            except MediaError as exc:
                raise ProviderError(
                    ErrorKind.SERVER,
                    f"The downloaded Kling result is not a playable video ({exc.problem})",
                    hint="it is fetched again on the next attempt",
                ) from None
        return dest

    async def _fetch_into(self, url: str, tmp: Path, have: int) -> int:
        headers = {"Range": f"bytes={have}-"} if have else {}
        resp = await self._open(url, headers)
        async with resp:
            if resp.status == 416 and have:
                return have  # we already hold every byte
            if resp.status not in (200, 206):
                kind = ErrorKind.SERVER if resp.status >= 500 else ErrorKind.NOT_FOUND
                raise ProviderError(
                    kind,
                    f"Kling's result link answered HTTP {resp.status}",
                    hint="result links expire after 30 days; the task is polled again for a "
                    "fresh link" if kind is ErrorKind.NOT_FOUND else "retried automatically",
                    http_status=resp.status,
                )
            if resp.status == 200 or not _range_starts_at(resp.headers.get("Content-Range"), have):
                have = 0  # the server ignored the Range: start over
            expected = resp.content_length
            total = have + expected if expected is not None else None
            with tmp.open("r+b" if have else "wb") as fh:
                fh.seek(have)
                fh.truncate()
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    fh.write(chunk)
                    have += len(chunk)
            if total is not None and have < total:
                raise _Truncated()
            return have


def _envelope(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and "code" in data else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _range_starts_at(content_range: str | None, offset: int) -> bool:
    if not content_range or not content_range.startswith("bytes "):
        return False
    start = content_range[6:].split("-", 1)[0]
    return start.isdigit() and int(start) == offset
