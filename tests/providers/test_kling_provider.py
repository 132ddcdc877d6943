"""KlingProvider against the emulator: what the end-to-end tests (``test_kling_e2e``) do not
reach through the engine -- inline reference images, lookups, batched polling, duplicates,
refusals before paying, reachability. Every operation itself runs end to end there."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from tests.kling_emulator import KlingEmulator
from tests.providers.conftest import MakeProvider, Media
from tests.providers.kling_helpers import probe, run

from kling_bridge.providers.base import (
    ErrorKind,
    Operation,
    ProviderError,
    Resolution,
    TaskPhase,
    TaskRequest,
)

STANDARDS = ["new", "legacy"]


@pytest.mark.parametrize("std", STANDARDS)
async def test_edit_with_reference_image_inline(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator, media: Media, tmp_path: Path
) -> None:
    provider = make_provider(std)
    req = TaskRequest(Operation.EDIT, "kling-3.0-omni", prompt="in the style of @image_1",
                      video=media.clip, reference_image=media.still, resolution=Resolution.R720)
    status, files = await run(provider, req, f"ref-{std}", tmp_path)
    assert status.phase is TaskPhase.SUCCEEDED and not probe(files[0])["audio"]
    create = next(r for r in emulator.stats.requests if r["method"] == "POST")
    flat = str(create["body"])
    assert base64.b64encode(media.still.read_bytes())[:100].decode() in flat  # inline


@pytest.mark.parametrize("std", STANDARDS)
async def test_lookup_proves_absence_and_finds_tasks(
    std: str, make_provider: MakeProvider, media: Media, tmp_path: Path
) -> None:
    provider = make_provider(std)
    assert await provider.lookup(["never-sent-1", "never-sent-2"]) == {}
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="rain", duration=3)
    task_id = await provider.submit(req, "job-lookup")
    found = await provider.lookup(["job-lookup", "never-sent-1"])
    assert list(found) == ["job-lookup"] and found["job-lookup"].task_id == task_id


async def test_poll_batches_twenty_ids_per_query(
    make_provider: MakeProvider, emulator: KlingEmulator
) -> None:
    provider = make_provider("new")
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="rain", duration=3)
    real = await provider.submit(req, "job-batch")
    ids = [f"unknown{i}" for i in range(44)] + [real]
    before = emulator.stats.queries
    statuses = await provider.poll(ids)
    assert list(statuses) == [real]  # unknown ids: data [] (observed quirk)
    assert emulator.stats.queries - before == 3 and emulator.stats.max_ids_per_query == 20


async def test_a_reused_external_id_is_a_duplicate_not_a_new_task(
    make_provider: MakeProvider, emulator: KlingEmulator
) -> None:
    provider = make_provider("new")
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="rain", duration=3)
    await provider.submit(req, "job-dup")
    with pytest.raises(ProviderError) as exc:
        await provider.submit(req, "job-dup")
    assert exc.value.kind is ErrorKind.DUPLICATE and exc.value.maybe_created
    assert emulator.stats.tasks_created["job-dup"] == 1


async def test_validate_refuses_before_paying(
    make_provider: MakeProvider, emulator: KlingEmulator, media: Media, tmp_path: Path
) -> None:
    provider = make_provider("new")
    small = TaskRequest(Operation.EDIT, "kling-3.0-omni", prompt="anime", video=media.clip_small)
    with pytest.raises(ProviderError) as exc:
        provider.validate(small)
    assert exc.value.kind is ErrorKind.BAD_REQUEST and "small.mp4" in str(exc.value)
    with pytest.raises(ProviderError):
        await provider.submit(small, "job-small")
    assert emulator.stats.requests == []  # nothing reached Kling


async def test_no_media_host_is_a_clear_refusal(
    emulator: KlingEmulator, media: Media, tmp_path: Path
) -> None:
    from tests.providers.conftest import CREDENTIALS

    from kling_bridge.config import KlingSettings
    from kling_bridge.providers.kling import KlingProvider

    provider = KlingProvider(CREDENTIALS["new"], settings=KlingSettings(
        api_base=emulator.base_url), host=None, scratch_dir=tmp_path)
    edit = TaskRequest(Operation.EDIT, "kling-3.0-omni", prompt="anime", video=media.clip)
    with pytest.raises(ProviderError) as exc:
        provider.validate(edit)
    assert "--media-host" in exc.value.hint
    provider.validate(TaskRequest(Operation.IMAGE_TO_VIDEO, "kling-3.0", image=media.still,
                                  duration=5))  # images go inline: no host needed
    await provider.aclose()


@pytest.mark.parametrize("std", STANDARDS)
async def test_check_reports_reachability(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator
) -> None:
    emulator.account.balance_units = 120.5
    result = await make_provider(std).check()
    assert result.ok and "120.5 units" in result.detail


async def test_check_with_a_wrong_key_says_how_to_fix_it(
    emulator: KlingEmulator, tmp_path: Path
) -> None:
    from kling_bridge.config import KlingSettings
    from kling_bridge.credentials import KlingCredential
    from kling_bridge.providers.kling import KlingProvider

    provider = KlingProvider(KlingCredential(api_key="wrong-key-123"),
                             settings=KlingSettings(api_base=emulator.base_url),
                             scratch_dir=tmp_path)
    result = await provider.check()
    assert not result.ok and "login" in result.hint and "wrong-key-123" not in result.detail
    await provider.aclose()
