"""The API key and the secret key appear nowhere: logs, errors, statuses, requests, URLs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.kling_emulator import Account, KlingEmulator
from tests.providers.conftest import CREDENTIALS, MakeProvider, Media
from tests.providers.kling_helpers import run

from kling_bridge.providers.base import ErrorKind, Operation, ProviderError, TaskRequest

SECRETS = [s for s in (Account().api_key, Account().secret_key) if s]


@pytest.mark.parametrize("std", ["new", "legacy"])
async def test_secrets_never_leak(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator, media: Media,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = make_provider(std)
    seen: list[str] = [repr(provider), repr(provider.client), repr(CREDENTIALS[std]),
                       str(CREDENTIALS[std])]
    edit = TaskRequest(Operation.EDIT, "kling-3.0-omni", prompt="anime", video=media.clip)
    if std == "legacy":
        emulator.add_fault(on="create", action="error", code=1004)  # re-signed and resent
    emulator.add_fault(on="create", action="error_after_create", code=5000)
    status, _ = await run(provider, edit, f"job-{std}", tmp_path)
    seen += [repr(status), str(status.outputs)]
    for fault in ({"code": 1102}, {"code": 1301}, {"code": 5001}, {"code": 1000},
                  {"code": 1002}):
        emulator.add_fault(on="create", action="error", **fault)
        with pytest.raises(ProviderError) as exc:
            await provider.submit(edit, f"job-{std}-{fault['code']}")
        seen += [str(exc.value), repr(exc.value), exc.value.hint]
    emulator.add_fault(on="create", action="drop_after_create")
    with pytest.raises(ProviderError) as exc:
        await provider.submit(edit, f"job-{std}-drop")
    assert exc.value.kind is ErrorKind.CONNECTION
    seen += [str(exc.value), repr(exc.value), repr(await provider.lookup([f"job-{std}-drop"]))]
    seen.append(caplog.text)
    seen.append(repr(emulator.stats.requests))  # every body, path and query Kling received
    assert len(caplog.records) > 0 and len(emulator.stats.requests) > 5
    blob = "\n".join(seen)
    for secret in SECRETS:
        assert secret not in blob
    assert "Bearer ey" not in blob  # no JWT either
