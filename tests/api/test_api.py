"""The daemon's HTTP API over a durable fake provider and real media probing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kling_bridge.api import schemas as s
from kling_bridge.media.synth import make_clip

from .conftest import Api

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("media") / "A 001 #take.mp4", frames=100, rate="25")


async def wait_state(api: Api, job_id: str, states: set[str],
                     timeout: float = 20) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        r = await api.get(f"/v1/jobs/{job_id}")
        body = await r.json()
        if body["state"] in states:
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"{job_id} stuck: {body}")


async def test_health_names_provider_and_credential_source_only(api: Api) -> None:
    r = await api.get("/v1/health")
    assert r.status == 200
    body = s.HealthOut.model_validate(await r.json())
    assert body.provider == "fake" and body.api == "v1"
    assert body.credentials.source == "none"
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}


async def test_generate_creates_a_priced_batch_that_finishes(api: Api) -> None:
    r = await api.post(
        "/v1/generate", {"prompt": "a lighthouse at dawn", "duration": 6, "variants": 2}
    )
    assert r.status == 201, await r.text()
    batch = s.BatchOut.model_validate(await r.json())
    assert batch.estimate.units == 12.0 and batch.estimate.usd == pytest.approx(1.68)
    assert len(batch.jobs) == 2 and batch.jobs[1].label.endswith("v2")
    for job in batch.jobs:
        done = await wait_state(api, job.id, {"succeeded", "failed"})
        assert done["state"] == "succeeded", done["error"]
    r = await api.get(f"/v1/batches/{batch.batch_id}")
    status = s.BatchStatusOut.model_validate(await r.json())
    assert status.state == "succeeded" and status.billed.units == 12.0


async def test_dry_run_prices_without_creating(api: Api) -> None:
    r = await api.post("/v1/generate", {"prompt": "x", "duration": 10, "dry_run": True})
    assert r.status == 200
    body = await r.json()
    assert body["batch_id"] is None and body["estimate"]["units"] == 10.0
    r = await api.get("/v1/jobs")
    assert (await r.json())["jobs"] == []


async def test_restyle_clip_by_path_probes_exact_range(api: Api, clip: Path) -> None:
    r = await api.post(
        "/v1/restyle",
        {
            "clips": [{"path": str(clip), "start_frame": 10, "frame_count": 50}],
            "look": {"preset": "film-noir"},
            "select": {"handles": 12},
        },
    )
    assert r.status == 201, await r.text()
    job = (await r.json())["jobs"][0]
    src = job["spec"]["source"]
    assert (src["start_frame"], src["frame_count"], src["rate"]) == (10, 50, "25/1")
    assert (src["handle_before"], src["handle_after"]) == (10, 12)
    assert job["label"] == "A 001 #take · film-noir"
    done = await wait_state(api, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded"


async def test_restyle_refusals_name_the_problem(api: Api, clip: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.mov"
    r = await api.post(
        "/v1/restyle", {"clips": [{"path": str(missing)}], "look": {"preset": "film-noir"}}
    )
    body = await r.json()
    assert r.status == 400 and str(missing) in body["error"]["message"] and body["error"]["hint"]
    r = await api.post("/v1/restyle", {"clips": [{"path": str(clip)}], "look": {"preset": "x"}})
    assert (await r.json())["error"]["code"] == "unknown_preset"
    r = await api.post(
        "/v1/restyle",
        {
            "clips": [{"path": str(clip), "start_frame": 90, "frame_count": 20}],
            "look": {"preset": "anime"},
        },
    )
    assert (await r.json())["error"]["code"] == "range_outside_media"
    r = await api.post("/v1/restyle", {"look": {"preset": "anime"}})
    assert (await r.json())["error"]["code"] == "empty_selection"
    r = await api.post("/v1/generate", {"prompt": "x", "duration": 99})
    err = (await r.json())["error"]
    assert r.status == 400 and err["code"] == "bad_request" and "duration" in err["message"]


async def test_cancel_and_retry_round_trip(api: Api) -> None:
    api.services.settings.queue.concurrency["fake"] = 0
    r = await api.post("/v1/generate", {"prompt": "held back"})
    job_id = (await r.json())["jobs"][0]["id"]
    r = await api.post(f"/v1/jobs/{job_id}/cancel")
    assert (await r.json())["state"] == "cancelled"
    r = await api.post(f"/v1/jobs/{job_id}/cancel")
    assert r.status == 409 and (await r.json())["error"]["code"] == "illegal_transition"
    api.services.settings.queue.concurrency["fake"] = 2
    r = await api.post(f"/v1/jobs/{job_id}/retry")
    assert (await r.json())["state"] == "queued"
    assert (await wait_state(api, job_id, {"succeeded"}))["generation"] == 1


async def test_jobs_list_filters_and_pages(api: Api) -> None:
    api.services.settings.queue.concurrency["fake"] = 0
    for i in range(5):
        await api.post("/v1/generate", {"prompt": f"p{i}"})
    r = await api.get("/v1/jobs?limit=2&state=queued")
    page = s.JobListOut.model_validate(await r.json())
    assert len(page.jobs) == 2 and page.next_before
    r = await api.get(f"/v1/jobs?limit=10&before={page.next_before}")
    assert len((await r.json())["jobs"]) == 3
    r = await api.get("/v1/jobs?state=bogus")
    assert r.status == 400


async def test_events_stream_job_changes(api: Api) -> None:
    r = await api.post("/v1/generate", {"prompt": "streamed"})
    batch = (await r.json())["batch_id"]
    resp = await api.get(f"/v1/events?batch={batch}")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    states = []
    async with asyncio.timeout(20):
        while "succeeded" not in states:
            line = (await resp.content.readline()).decode()
            if line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["batch_id"] == batch
                states.append(data["state"])
    resp.close()
    assert states[-1] == "succeeded" and "running" in states


async def test_presets_for_menus(api: Api) -> None:
    r = await api.get("/v1/presets")
    body = s.PresetListOut.model_validate(await r.json())
    assert [p.id for p in body.presets] == ["film-noir", "anime"]


async def test_unknown_routes_and_bad_ids_are_json_errors(api: Api) -> None:
    for path in ("/v1/nothing", "/v1/jobs/../../etc/passwd", "/v1/jobs/j123"):
        r = await api.get(path)
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "not_found"


async def test_events_stream_lets_a_cancellation_through(api: Api) -> None:
    """A server shutting down cancels the stream's handler: it must end cancelled, not
    return as if it had finished (issue 16: the route swallowed CancelledError)."""
    from aiohttp.test_utils import make_mocked_request

    from kling_bridge.api.routes_jobs import events

    request = make_mocked_request("GET", "/v1/events", app=api.client.app)
    handler = asyncio.create_task(events(request))
    async with asyncio.timeout(5):
        while not api.services.engine.events.subscribers:
            await asyncio.sleep(0.01)
    handler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handler
    assert handler.cancelled()
    assert api.services.engine.events.subscribers == 0  # the stream was closed on the way out
