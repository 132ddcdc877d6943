"""KlingProvider against the emulator: every operation on both standards, lookups, polling."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from tests.kling_emulator import KlingEmulator
from tests.providers.conftest import MakeProvider, Media
from tests.providers.kling_helpers import probe, run

from kling_bridge.providers.base import (
    AudioMode,
    Cost,
    ErrorKind,
    Operation,
    ProviderError,
    Resolution,
    TaskPhase,
    TaskRequest,
)
from kling_bridge.specs import Shot

STANDARDS = ["new", "legacy"]


@pytest.mark.parametrize("std", STANDARDS)
async def test_o3_edit_keeps_length_and_sound(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator, media: Media, tmp_path: Path
) -> None:
    provider = make_provider(std)
    req = TaskRequest(Operation.EDIT, "kling-3.0-omni", prompt="film noir, deep shadows",
                      video=media.clip, video_duration=4.0, audio_mode=AudioMode.ORIGINAL)
    provider.validate(req)
    status, files = await run(provider, req, f"edit-{std}", tmp_path)
    assert status.phase is TaskPhase.SUCCEEDED
    facts = probe(files[0])
    assert facts["rate"] == "24/1" and facts["audio"]
    assert facts["frames"] == 96  # 4 s at 24 fps: an edit keeps the input's length
    assert status.billed == provider.estimate(req) == Cost(4.8)
    creates = [r for r in emulator.stats.requests if r["method"] == "POST"]
    assert len(creates) == 1
    if std == "new":
        assert creates[0]["path"] == "/omni-video/kling-3.0-omni"
        assert creates[0]["body"]["settings"]["audio"] == "original"
    else:
        assert creates[0]["path"] == "/v1/videos/omni-video"
        assert creates[0]["body"]["video_list"][0]["keep_original_sound"] == "yes"


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
async def test_text_to_video_lasts_the_requested_duration(
    std: str, make_provider: MakeProvider, media: Media, tmp_path: Path
) -> None:
    provider = make_provider(std)
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="a fox in fresh snow",
                      duration=5, aspect_ratio="9:16", audio_mode=AudioMode.NATIVE,
                      resolution=Resolution.R720)
    status, files = await run(provider, req, f"t2v-{std}", tmp_path)
    facts = probe(files[0])
    assert facts["frames"] == 120 and facts["audio"] and facts["height"] > facts["width"]
    assert status.billed == Cost(4.5)
    assert status.outputs[0].duration == pytest.approx(5.0, abs=0.1)


@pytest.mark.parametrize("std", STANDARDS)
async def test_image_to_video_from_a_first_frame(
    std: str, make_provider: MakeProvider, media: Media, tmp_path: Path
) -> None:
    provider = make_provider(std)
    req = TaskRequest(Operation.IMAGE_TO_VIDEO, "kling-3.0", prompt="the camera pushes in",
                      image=media.still, duration=3)
    status, files = await run(provider, req, f"i2v-{std}", tmp_path)
    assert probe(files[0])["frames"] == 72
    assert status.billed == Cost(2.4)


@pytest.mark.parametrize("std", STANDARDS)
async def test_multi_shot_generation(
    std: str, make_provider: MakeProvider, emulator: KlingEmulator, tmp_path: Path
) -> None:
    provider = make_provider(std)
    shots = (Shot("she opens the door", 2), Shot("close-up; she smiles", 3),
             Shot("wide shot of the street", 2))
    req = TaskRequest(Operation.TEXT_TO_VIDEO, "kling-3.0", prompt="a woman in a red coat",
                      shots=shots)
    _status, files = await run(provider, req, f"shots-{std}", tmp_path)
    assert probe(files[0])["frames"] == 7 * 24
    create = next(r for r in emulator.stats.requests if r["method"] == "POST")
    if std == "new":
        assert "shot 2, 3, close-up, she smiles;" in create["body"]["prompt"]
    else:
        assert len(create["body"]["multi_prompt"]) == 3


@pytest.mark.parametrize("std", STANDARDS)
@pytest.mark.parametrize("source", ["video", "still"])
async def test_lipsync_identifies_the_face_then_syncs(
    std: str, source: str, make_provider: MakeProvider, emulator: KlingEmulator, media: Media,
    tmp_path: Path,
) -> None:
    provider = make_provider(std)
    req = TaskRequest(Operation.LIPSYNC, "kling-3.0",
                      video=media.clip if source == "video" else None,
                      image=media.still if source == "still" else None,
                      audio=media.dialogue, audio_range=(0.5, 3.5))
    provider.validate(req)
    status, files = await run(provider, req, f"lip-{std}-{source}", tmp_path)
    assert status.phase is TaskPhase.SUCCEEDED and probe(files[0])["audio"]
    paths = [r["path"] for r in emulator.stats.requests if r["method"] == "POST"]
    assert paths == ["/v1/videos/identify-face", "/v1/videos/advanced-lip-sync"]
    assert status.billed == provider.estimate(req) == Cost(0.55)
    assert status.task_id.startswith("advanced-lip-sync/")


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
