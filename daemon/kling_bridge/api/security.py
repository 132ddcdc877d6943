"""The daemon's front door. Threat model, in the order the checks run:

1. *A web page in the user's browser* (DNS rebinding, or a plain cross-site POST) is the
   realistic attacker of a loopback service. A rebinding page reaches us with its own
   hostname in ``Host``: the Host allow-list refuses it before anything else. Browsers send
   ``Origin`` on cross-site requests; our clients (plugins, CLI, scripts) never do, so any
   ``Origin`` is refused, and no CORS header is ever sent.
2. *Another local user or process*: needs the 256-bit bearer token from a 0600 file in the
   user's config dir, compared in constant time. Tokens in a query string are refused
   (URLs end up in logs and shell history).
3. *Malformed or hostile input*: JSON content type on writes, a body size cap, strict id
   patterns in routes, pydantic at the edge. Every refusal is the same JSON error shape.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

log = logging.getLogger("kling_bridge.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Paths that answer without a token (nothing secret, nothing that acts).
PUBLIC_PATHS = frozenset({"/v1/openapi.json"})


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def error_response(status: int, code: str, message: str, hint: str = "",
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "hint": hint}}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=headers)


class ApiError(Exception):
    """Raised by handlers; rendered as the standard JSON error."""

    def __init__(self, status: int, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint


def allowed_hosts(port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    names = ["127.0.0.1", "localhost", "[::1]", *extra]
    return frozenset({n.lower() for n in names} | {f"{n}:{port}".lower() for n in names})


def bearer_token(header: str) -> bytes:
    """The credentials of an ``Authorization: Bearer`` header (the scheme is case-insensitive,
    RFC 9110 section 11.1); empty for any other scheme."""
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return b""
    return credentials.strip().encode("utf-8", "replace")


def security_middleware(token: str, hosts: Callable[[], frozenset[str]]) -> Any:
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = (request.headers.get("Host") or "").lower()
        if host not in hosts():
            # Never the value: a token pasted into the wrong header would reach the log.
            log.warning("refused a request with a foreign Host header (%d characters)",
                        len(host))
            return error_response(
                421, "host_not_allowed", "this service answers only to 127.0.0.1/localhost",
                "connect to http://127.0.0.1:<port>/ as the discovery file says",
            )
        if "Origin" in request.headers:
            return error_response(
                403, "origin_refused", "requests from web pages are refused",
                "call the API from a plugin, script or the CLI, not from a browser",
            )
        if any(k.lower() in ("token", "access_token", "bearer") for k in request.query):
            return error_response(
                400, "token_in_url", "never put the token in a URL",
                "send it as the header 'Authorization: Bearer <token>'",
            )
        if request.path not in PUBLIC_PATHS:
            given = bearer_token(request.headers.get("Authorization", ""))
            if not hmac.compare_digest(given, expected):
                return error_response(
                    401, "unauthorized", "missing or wrong bearer token",
                    "read the token from the discovery file (kling-bridge status --json)",
                    headers={"WWW-Authenticate": 'Bearer realm="kling-bridge"'},
                )
        writes = request.method in ("POST", "PUT", "PATCH") and request.body_exists
        if writes and request.content_type != "application/json":
            return error_response(
                415, "json_required", "the request body must be JSON",
                "send 'Content-Type: application/json'",
            )
        return await handler(request)

    return middleware


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as ``{"error": {"code", "message", "hint"}}``."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.hint)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, "too_large", f"request body too large ({exc.text})",
                              "send a timeline file path (timeline_path) instead of its text")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        codes = {404: "not_found", 405: "method_not_allowed"}
        hints = {404: "see /v1/openapi.json for the routes", 405: "see /v1/openapi.json"}
        keep = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}  # RFC 9110
        return error_response(exc.status, codes.get(exc.status, "http_error"),
                              exc.reason, hints.get(exc.status, ""), headers=keep or None)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error in kling-bridge",
                              "the daemon's log has the details; please report it")
