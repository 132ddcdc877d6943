"""Kling's error codes, translated into what the engine must do about them.

Every code of kling-api.md ("Errors") maps to a :class:`ProviderError` whose ``kind`` drives
the engine (back off, fail, hold paid work, look the task up) and whose ``message``/``hint``
tell the user what to do. The table is data so a new code is one line.

Kling's own message is kept (it often names the offending parameter) but scrubbed of any
secret first: a server echoing a header back must not smuggle a key into a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..base import ErrorKind, ProviderError


@dataclass(frozen=True)
class CodeInfo:
    kind: ErrorKind
    http_status: int
    message: str
    hint: str


_LOGIN = (
    "check the key with `kling-bridge login` "
    "(or KLING_API_KEY / KLING_ACCESS_KEY + KLING_SECRET_KEY)"
)

#: code -> how to react. Messages say what happened, hints say what to do.
CODES: dict[int, CodeInfo] = {
    1000: CodeInfo(ErrorKind.AUTH, 401, "Kling authentication failed", _LOGIN),
    1001: CodeInfo(ErrorKind.AUTH, 401, "Kling received no credentials", _LOGIN),
    1002: CodeInfo(
        ErrorKind.AUTH,
        401,
        "Kling rejected the credentials",
        _LOGIN + "; the new-standard endpoints accept only an API key, not an access key pair",
    ),
    1003: CodeInfo(
        ErrorKind.AUTH,
        401,
        "Kling says the access token is not valid yet",
        "check this computer's clock (the token's start time is in Kling's future)",
    ),
    1004: CodeInfo(
        ErrorKind.AUTH,
        401,
        "Kling says the access token has expired",
        "check this computer's clock; tokens are renewed automatically",
    ),
    1100: CodeInfo(
        ErrorKind.QUOTA,
        429,
        "Kling reports the account as abnormal",
        "check the account's status in the Kling developer console",
    ),
    1101: CodeInfo(
        ErrorKind.QUOTA,
        429,
        "Kling account is in arrears",
        "settle the outstanding balance in the Kling developer console",
    ),
    1102: CodeInfo(
        ErrorKind.QUOTA,
        429,
        "Kling resource pack exhausted or expired: buy credits or enable postpaid",
        "buy a resource pack or enable postpaid billing in the Kling developer console; "
        "paid jobs are held until then",
    ),
    1103: CodeInfo(
        ErrorKind.PERMISSION,
        403,
        "This Kling account may not use the requested model",
        "pick another model or enable this one for the account in the Kling console",
    ),
    1200: CodeInfo(
        ErrorKind.BAD_REQUEST, 400, "Kling refused the request as invalid", "see Kling's reason"
    ),
    1201: CodeInfo(
        ErrorKind.BAD_REQUEST,
        400,
        "Kling refused a parameter",
        "fix the named parameter (the clip, prompt or settings) and retry",
    ),
    1202: CodeInfo(
        ErrorKind.NOT_FOUND, 404, "Kling does not know this task or resource", "check the id"
    ),
    1203: CodeInfo(
        ErrorKind.NOT_FOUND,
        404,
        "Kling does not know this model or resource",
        "check the model name in the settings (kling.edit_model / kling.generate_model)",
    ),
    1300: CodeInfo(
        ErrorKind.POLICY,
        400,
        "Kling's platform policy refused the request",
        "change the prompt or the input media",
    ),
    1301: CodeInfo(
        ErrorKind.POLICY,
        400,
        "Kling's content safety check refused the request",
        "rephrase the prompt or use other input media; nothing was generated",
    ),
    1302: CodeInfo(
        ErrorKind.RATE_LIMIT,
        429,
        "Kling rate limit reached",
        "the job stays queued and is retried automatically",
    ),
    1303: CodeInfo(
        ErrorKind.RATE_LIMIT,
        429,
        "Kling concurrency limit of the resource pack reached",
        "the job stays queued until a running task finishes; a larger pack allows more at once",
    ),
    1304: CodeInfo(
        ErrorKind.PERMISSION,
        429,
        "Kling refused this computer's IP address (allow-list)",
        "add this machine's public IP to the key's allow-list in the Kling console",
    ),
    5000: CodeInfo(
        ErrorKind.SERVER,
        500,
        "Kling had an internal error",
        "the task may exist already; it is looked up by its id before anything is re-sent",
    ),
    5001: CodeInfo(
        ErrorKind.SERVER,
        503,
        "Kling is temporarily unavailable",
        "retried automatically; the task is looked up by its id first",
    ),
    5002: CodeInfo(
        ErrorKind.SERVER,
        504,
        "Kling timed out internally",
        "retried automatically; the task is looked up by its id first",
    ),
}

#: 1201 is also how Kling refuses a reused ``external_task_id`` *(observed)*; the message is
#: the only way to tell. Kept loose on purpose: a false positive costs a look-up, never money.
_DUPLICATE_RE = re.compile(r"external[_ ]?task[_ ]?id.*(exist|duplicat|already|used|repeat)", re.I)

_BY_HTTP: dict[int, ErrorKind] = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.AUTH,
    403: ErrorKind.PERMISSION,
    404: ErrorKind.NOT_FOUND,
    429: ErrorKind.RATE_LIMIT,
}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret (and a bearer token) from a server-provided string."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(?i)bearer\s+[A-Za-z0-9._\-]+", "Bearer ***", text)


def is_duplicate(code: int | None, message: str) -> bool:
    return code == 1201 and bool(_DUPLICATE_RE.search(message))


def from_answer(
    http_status: int,
    code: int | None,
    server_message: str,
    *,
    creating: bool,
    secrets: Iterable[str] = (),
    request_id: str = "",
    retry_after: float | None = None,
) -> ProviderError:
    """Translate one refusal. ``creating`` marks the paid call: a server-side failure there
    may have created (and billed) the task, so the engine must look it up."""
    reason = scrub(server_message or "", secrets).strip()
    info = CODES.get(code) if code is not None else None
    if creating and is_duplicate(code, reason):
        return ProviderError(
            ErrorKind.DUPLICATE,
            "Kling already has a task with this job's id",
            hint="the existing task is looked up and followed; nothing is paid twice",
            code=code,
            http_status=http_status,
            maybe_created=True,
        )
    if info is not None:
        kind, message, hint = info.kind, info.message, info.hint
    else:
        kind = _BY_HTTP.get(http_status, ErrorKind.SERVER)
        message = f"Kling answered HTTP {http_status}" + (f" with code {code}" if code else "")
        hint = "retried automatically" if kind is ErrorKind.SERVER else "see Kling's reason"
    if reason and reason.lower() not in message.lower():
        message = f"{message}: {reason}"
    if request_id:
        hint = f"{hint} (Kling request id {request_id})"
    return ProviderError(
        kind,
        message,
        hint=hint,
        code=code,
        http_status=http_status,
        maybe_created=creating and kind is ErrorKind.SERVER,
        retry_after=retry_after,
    )


def connection_error(detail: str, *, creating: bool) -> ProviderError:
    """A dropped connection or a timeout: nobody knows whether Kling acted on it."""
    return ProviderError(
        ErrorKind.CONNECTION,
        f"Lost the connection to Kling ({detail})",
        hint=(
            "the task may exist already; it is looked up by its id before anything is re-sent"
            if creating
            else "check the network; retried automatically"
        ),
        maybe_created=creating,
    )


def not_connected(base_url: str, cause: OSError | None, kind: str = "") -> ProviderError:
    """No connection could be made: the request never left, nothing was created."""
    why = (cause.strerror if cause is not None and cause.strerror else str(cause or "")) \
        or kind or "no connection"
    return ProviderError(
        ErrorKind.CONNECTION,
        f"Cannot connect to Kling at {base_url} ({why.lower()}); nothing was sent",
        hint="check the network, and the address (KLING_API_BASE or kling.api_base / region "
        "in config.toml); the job is retried automatically",
        maybe_created=False,
    )


def bad_request(message: str, hint: str = "") -> ProviderError:
    """A rule of kling-api.md our request would break: refused before anything is paid."""
    return ProviderError(ErrorKind.BAD_REQUEST, message, hint=hint)
