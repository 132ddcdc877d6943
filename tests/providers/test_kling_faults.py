"""Faults at the provider level: every path of the never-pay-twice protocol, both standards.

The protocol (record key -> submit -> on ANY error look up by key -> re-send only if proven
absent) is driven by ``kling_helpers.submit_safely``; the emulator counts the tasks it
created per external id, so "exactly one task" is asserted from Kling's side.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from tests.kling_emulator import KlingEmulator
from tests.providers.conftest import CREDENTIALS, MakeProvider, Media
from tests.providers.kling_helpers import probe, run, wait_done

from kling_bridge.config import KlingSettings
from kling_bridge.providers.base import (
    AudioMode,
    ErrorKind,
    Operation,
    ProviderError,
    TaskPhase,
    TaskRequest,
)
from kling_bridge.providers.kling import KlingProvider

STANDARDS = ["new", "legacy"]
T2V = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="waves at dusk", duration=3)


def _edit(media: Media) -> TaskRequest:
    return TaskRequest(Operation.EDIT, "kling-3.0-omni", prompt="watercolor", video=media.clip,
                       audio_mode=AudioMode.ORIGINAL)


@pytest.mark.parametrize("std", STANDARDS)
@pytest.mark.parametrize("action", ["error_after_create", "drop_after_create"])
async def test_create_that_fails_after_creating_ends_with_one_task(
    std: str, action: str, make_provider: MakeProvider, emulator: KlingEmulator, media: Media,
    tmp_path: Path,
) -> None:
    provider = make_provider(std)
    emulator.add_fault(on="create", action=action, code=5000)
    with pytest.raises(ProviderError) as exc:
        await provider.submit(_edit(media), "job-x")
    assert exc.value.maybe_created
    assert exc.value.kind is (ErrorKind.SERVER if action == "error_after_create"
                              else ErrorKind.CONNECTION)
    found = await provider.lookup(["job-x"])  # before anything else
    status = await wait_done(provider, found["job-x"].task_id)
    out = await provider.fetch(status.outputs[0], tmp_path / "x.mp4")
    assert status.phase is TaskPhase.SUCCEEDED and probe(out)["frames"] == 96
    assert emulator.stats.tasks_created == {"job-x": 1}
    assert emulator.stats.creates_attempted == {"job-x": 1}  # found by lookup, never re-sent
    # The whole protocol as the engine runs it: test_kling_e2e's 5000/drop tests.


@pytest.mark.parametrize("std", STANDARDS)
async def test_a_1303_burst_backs_off_then_succeeds(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator, tmp_path: Path
) -> None:
    provider = make_provider(std)
    emulator.add_fault(on="create", action="error", code=1303, count=3)
    with pytest.raises(ProviderError) as exc:
        await provider.submit(T2V, "job-busy")
    assert exc.value.kind is ErrorKind.RATE_LIMIT and not exc.value.maybe_created
    status, _ = await run(provider, T2V, "job-busy", tmp_path)
    assert status.phase is TaskPhase.SUCCEEDED
    assert emulator.stats.creates_attempted["job-busy"] == 4
    assert emulator.stats.tasks_created == {"job-busy": 1}


async def test_real_concurrency_limit_answers_1303(
    make_provider: MakeProvider, emulator: KlingEmulator
) -> None:
    emulator.account.concurrency = 1
    emulator.processing_seconds = 5.0
    provider = make_provider("new")
    await provider.submit(T2V, "job-a")
    with pytest.raises(ProviderError) as exc:
        await provider.submit(T2V, "job-b")
    assert exc.value.kind is ErrorKind.RATE_LIMIT and exc.value.code == 1303


@pytest.mark.parametrize("std", STANDARDS)
async def test_1102_fails_with_the_clear_message(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator, media: Media
) -> None:
    emulator.account.balance_units = 1.0  # the edit costs 4.8
    provider = make_provider(std)
    with pytest.raises(ProviderError) as exc:
        await provider.submit(_edit(media), "job-poor")
    err = exc.value
    assert err.kind is ErrorKind.QUOTA and err.code == 1102 and not err.maybe_created
    assert "Kling resource pack exhausted or expired: buy credits or enable postpaid" in str(err)
    assert emulator.stats.tasks_created == {}
    assert await provider.lookup(["job-poor"]) == {}


@pytest.mark.parametrize("std", STANDARDS)
async def test_1301_at_create_and_a_task_failed_by_content_safety(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator
) -> None:
    provider = make_provider(std)
    emulator.add_fault(on="create", action="error", code=1301,
                       message="prompt contains sensitive content")
    with pytest.raises(ProviderError) as exc:
        await provider.submit(T2V, "job-unsafe")
    assert exc.value.kind is ErrorKind.POLICY
    assert "prompt contains sensitive content" in str(exc.value) and exc.value.hint
    emulator.add_fault(on="create", action="fail_task",
                       message="Failure to pass the risk control system")
    task_id = await provider.submit(T2V, "job-unsafe-2")
    status = await wait_done(provider, task_id)
    assert status.phase is TaskPhase.FAILED and "risk control" in status.message
    assert status.outputs == ()


async def test_a_create_answer_that_never_comes_is_looked_up(
    make_provider: MakeProvider, emulator: KlingEmulator, tmp_path: Path
) -> None:
    impatient = make_provider("new", request_timeout_seconds=0.5)
    emulator.add_fault(on="create", action="hold_after_create", seconds=3.0)
    with pytest.raises(ProviderError) as exc:
        await impatient.submit(T2V, "job-slow-answer")
    assert exc.value.kind is ErrorKind.CONNECTION and exc.value.maybe_created
    # the lookup as the engine makes it, with the usual timeout (0.5 s is only there to
    # give up on the create; a busy machine can take longer than that for a query too)
    found = await make_provider("new").lookup(["job-slow-answer"])
    assert "job-slow-answer" in found
    assert emulator.stats.tasks_created == {"job-slow-answer": 1}


async def test_slow_task_is_processing_then_succeeds(
    make_provider: MakeProvider, emulator: KlingEmulator
) -> None:
    provider = make_provider("legacy")
    emulator.add_fault(on="create", action="slow", seconds=1.0)
    task_id = await provider.submit(T2V, "job-slow")
    first = (await provider.poll([task_id]))[task_id]
    assert first.phase in (TaskPhase.SUBMITTED, TaskPhase.PROCESSING)
    assert (await wait_done(provider, task_id)).phase is TaskPhase.SUCCEEDED


@pytest.mark.parametrize("std", STANDARDS)
async def test_truncated_download_resumes_with_range(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator, tmp_path: Path
) -> None:
    provider = make_provider(std)
    emulator.add_fault(on="download", action="truncate", count=2, bytes=3000)
    _, files = await run(provider, T2V, "job-trunc", tmp_path)
    assert probe(files[0])["frames"] == 72
    assert emulator.stats.downloads == 3
    assert not list(tmp_path.glob(".*"))  # the temp file was renamed, nothing left


async def test_download_that_never_completes_fails_cleanly(
    make_provider: MakeProvider, emulator: KlingEmulator, tmp_path: Path
) -> None:
    provider = make_provider("new")
    emulator.add_fault(on="download", action="truncate", count=50, bytes=10)
    with pytest.raises(ProviderError) as exc:
        await run(provider, T2V, "job-never", tmp_path)
    assert exc.value.kind is ErrorKind.CONNECTION
    assert not list(tmp_path.glob("*job-never*")) and not list(tmp_path.glob(".*"))


async def test_results_are_fetched_without_credentials_across_the_redirect(
    make_provider: MakeProvider, emulator: KlingEmulator, tmp_path: Path
) -> None:
    provider = make_provider("new")
    status, _ = await run(provider, T2V, "job-noauth", tmp_path)
    assert emulator.stats.auth_on_results == 0 and emulator.stats.downloads == 1
    # The emulator does catch a client that forwards its header (so the check means it):
    async with aiohttp.ClientSession() as s, s.get(
        status.outputs[0].url, headers={"Authorization": "Bearer x"}
    ) as resp:
        assert resp.status == 403
    assert emulator.stats.auth_on_results == 1


async def test_an_expired_token_is_re_signed_once_and_the_create_resent(
    make_provider: MakeProvider, emulator: KlingEmulator
) -> None:
    provider = make_provider("legacy")
    emulator.add_fault(on="create", action="error", code=1004)
    task_id = await provider.submit(T2V, "job-jwt")
    assert task_id and provider.client.refreshes == 1
    assert emulator.stats.tasks_created == {"job-jwt": 1}


async def test_an_api_key_cannot_be_refreshed(
    make_provider: MakeProvider, emulator: KlingEmulator
) -> None:
    provider = make_provider("new")
    emulator.add_fault(on="create", action="error", code=1004)
    with pytest.raises(ProviderError) as exc:
        await provider.submit(T2V, "job-key")
    assert exc.value.kind is ErrorKind.AUTH and not exc.value.maybe_created
    assert provider.client.refreshes == 0


async def test_access_keys_are_refused_on_new_standard_paths(emulator: KlingEmulator,
                                                             tmp_path: Path) -> None:
    settings = KlingSettings(api_base=emulator.base_url, standard="new")
    provider = KlingProvider(CREDENTIALS["legacy"], settings=settings, scratch_dir=tmp_path)
    assert provider.standard == "legacy"  # the credential decides, whatever the setting
    with pytest.raises(ProviderError) as exc:
        await provider.client.call("GET", "/tasks", params={"task_ids": "x"})
    assert exc.value.kind is ErrorKind.AUTH and exc.value.code == 1002
    await provider.aclose()


@pytest.mark.parametrize("std", STANDARDS)
async def test_a_failing_lookup_raises_instead_of_claiming_absence(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator
) -> None:
    provider = make_provider(std)
    emulator.add_fault(on="query", action="error", code=5001)
    with pytest.raises(ProviderError) as exc:
        await provider.lookup(["job-unknown"])
    assert exc.value.kind is ErrorKind.SERVER
    # aiohttp retries an idempotent GET once on a fresh connection; drop both tries.
    emulator.add_fault(on="query", action="drop", count=2)
    with pytest.raises(ProviderError) as exc:
        await provider.lookup(["job-unknown"])
    assert exc.value.kind is ErrorKind.CONNECTION


async def test_a_wrong_base_url_never_proves_absence(emulator: KlingEmulator,
                                                     tmp_path: Path) -> None:
    for std in STANDARDS:
        settings = KlingSettings(api_base=emulator.base_url + "/not-kling")
        provider = KlingProvider(CREDENTIALS[std], settings=settings, scratch_dir=tmp_path)
        with pytest.raises(ProviderError):
            await provider.lookup(["job-1"])
        await provider.aclose()
