"""Kling's error codes -> what the engine does; the price table -> estimates."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_bridge.providers.base import (
    AudioMode,
    Cost,
    ErrorKind,
    Operation,
    ProviderError,
    Resolution,
    TaskRequest,
)
from kling_bridge.providers.kling import errors, pricing
from kling_bridge.specs import Shot

DOCUMENTED = {
    **dict.fromkeys((1000, 1001, 1002, 1003, 1004), ErrorKind.AUTH),
    **dict.fromkeys((1100, 1101, 1102), ErrorKind.QUOTA),
    1103: ErrorKind.PERMISSION,
    1200: ErrorKind.BAD_REQUEST,
    1201: ErrorKind.BAD_REQUEST,
    1202: ErrorKind.NOT_FOUND,
    1203: ErrorKind.NOT_FOUND,
    1300: ErrorKind.POLICY,
    1301: ErrorKind.POLICY,
    1302: ErrorKind.RATE_LIMIT,
    1303: ErrorKind.RATE_LIMIT,
    1304: ErrorKind.PERMISSION,
    5000: ErrorKind.SERVER,
    5001: ErrorKind.SERVER,
    5002: ErrorKind.SERVER,
}


@pytest.mark.parametrize(("code", "kind"), sorted(DOCUMENTED.items()))
def test_every_documented_code_has_a_kind_message_and_hint(code: int, kind: ErrorKind) -> None:
    err = errors.from_answer(errors.CODES[code].http_status, code, "", creating=False)
    assert err.kind is kind
    assert err.code == code
    assert err.message and err.hint
    assert not err.maybe_created


def test_1102_says_what_to_do() -> None:
    err = errors.from_answer(429, 1102, "Account balance not enough", creating=True)
    assert err.kind is ErrorKind.QUOTA
    assert "Kling resource pack exhausted or expired: buy credits or enable postpaid" in err.message
    assert not err.maybe_created  # a refused create was not billed


@pytest.mark.parametrize("code", [5000, 5001, 5002])
def test_server_errors_on_a_create_may_have_created_the_task(code: int) -> None:
    err = errors.from_answer(500, code, "internal error", creating=True)
    assert err.kind is ErrorKind.SERVER and err.maybe_created and err.retryable
    assert not errors.from_answer(500, code, "x", creating=False).maybe_created


def test_unknown_code_falls_back_on_the_http_status() -> None:
    assert errors.from_answer(502, None, "<html>bad gateway</html>", creating=True).maybe_created
    assert errors.from_answer(429, 1999, "", creating=False).kind is ErrorKind.RATE_LIMIT
    assert errors.from_answer(403, 1999, "", creating=False).kind is ErrorKind.PERMISSION


def test_duplicate_external_id_is_told_apart_from_a_bad_parameter() -> None:
    dup = errors.from_answer(400, 1201, "external_task_id already exists: job-1", creating=True)
    assert dup.kind is ErrorKind.DUPLICATE and dup.maybe_created
    bad = errors.from_answer(400, 1201, "duration must be between 3 and 15", creating=True)
    assert bad.kind is ErrorKind.BAD_REQUEST
    assert "duration must be between 3 and 15" in bad.message  # Kling's reason is kept


def test_kling_reason_is_kept_but_secrets_are_scrubbed() -> None:
    err = errors.from_answer(
        401, 1002, "bad header Bearer sk-live-123 for key sk-live-123", creating=False,
        secrets=("sk-live-123",),
    )
    assert "sk-live-123" not in str(err) and "sk-live-123" not in err.hint
    assert "Bearer ***" in err.message


def test_connection_error_on_create_demands_a_lookup() -> None:
    err = errors.connection_error("server disconnected", creating=True)
    assert err.kind is ErrorKind.CONNECTION and err.maybe_created
    assert isinstance(err, ProviderError)


TABLE = pricing.load_table()


def _req(**kw: object) -> TaskRequest:
    base: dict[str, object] = {"operation": Operation.TEXT_TO_VIDEO, "model": "kling-3.0"}
    base.update(kw)
    return TaskRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_kw", "units"),
    [
        ({"duration": 5, "resolution": Resolution.R720}, 3.0),
        ({"duration": 5, "resolution": Resolution.R1080}, 4.0),
        ({"duration": 10, "resolution": Resolution.R4K}, 30.0),
        ({"duration": 5, "resolution": Resolution.R1080, "audio_mode": AudioMode.NATIVE}, 6.0),
        ({"duration": 5, "model": "kling-3.0-turbo", "resolution": Resolution.R720}, 4.0),
        ({"shots": (Shot("a", 3), Shot("b", 4)), "resolution": Resolution.R720}, 4.2),
        (
            {
                "operation": Operation.EDIT,
                "model": "kling-3.0-omni",
                "video": Path("x.mp4"),
                "video_duration": 4.0,
                "resolution": Resolution.R1080,
            },
            4.8,
        ),
        ({"model": "kling-3.0-omni", "duration": 5, "resolution": Resolution.R1080}, 4.0),
        ({"operation": Operation.LIPSYNC, "audio_range": (1.0, 8.0)}, 1.05),
        ({"operation": Operation.LIPSYNC, "audio_range": (0.0, 5.0)}, 0.55),
    ],
)
def test_estimates_follow_the_published_table(request_kw: dict[str, object], units: float) -> None:
    assert pricing.estimate(_req(**request_kw), TABLE) == Cost(units)


def test_an_unoffered_resolution_is_refused_before_sending() -> None:
    with pytest.raises(ProviderError) as exc:
        turbo_4k = _req(model="kling-3.0-turbo", duration=5, resolution=Resolution.R4K)
        pricing.estimate(turbo_4k, TABLE)
    assert exc.value.kind is ErrorKind.BAD_REQUEST and "720p" in exc.value.hint


def test_billing_answers_are_parsed() -> None:
    assert pricing.billed_from_standard([{"charge_type": "unit", "amount": "3"}]) == Cost(3.0)
    assert pricing.billed_from_standard([{"charge_type": "cash", "amount": "0.14"}]) == Cost(1.0)
    assert pricing.billed_from_standard([]) is None
    assert pricing.billed_from_legacy("4.5") == Cost(4.5)
    assert pricing.billed_from_legacy(None) is None
