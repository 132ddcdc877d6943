"""The API changes the watch folder relies on: ``idempotency_key`` and the submit functions
callable without HTTP (the in-process bridge), answering what the routes answer."""

from __future__ import annotations

import pytest

from kling_bridge.api import schemas as s
from kling_bridge.api.routes_submit import generate_batch
from tests.api.conftest import Api, api  # noqa: F401  (the API fixture)

pytestmark = pytest.mark.asyncio


async def test_the_same_idempotency_key_answers_the_same_batch(api: Api) -> None:  # noqa: F811
    body = {"prompt": "a harbour at dawn", "duration": 5, "idempotency_key": "watch:abc:1"}
    first = await api.post("/v1/generate", body)
    assert first.status == 201
    again = await api.post("/v1/generate", body)
    assert again.status == 200
    a, b = await first.json(), await again.json()
    assert a["batch_id"] == b["batch_id"]
    assert [j["id"] for j in a["jobs"]] == [j["id"] for j in b["jobs"]]
    other = await api.post("/v1/generate", {**body, "idempotency_key": "watch:abc:2"})
    assert other.status == 201 and (await other.json())["batch_id"] != a["batch_id"]
    listed = await (await api.get("/v1/jobs")).json()
    assert len(listed["jobs"]) == 2
    dry = await api.post("/v1/generate", {**body, "dry_run": True})
    assert dry.status == 200 and (await dry.json())["batch_id"] is None


async def test_submit_functions_answer_what_the_routes_answer(api: Api) -> None:  # noqa: F811
    body = {"prompt": "rain on glass", "duration": 4, "model": "kling-3.0-turbo"}
    answer, status = await generate_batch(api.services, s.GenerateIn.model_validate(body))
    assert status == 201
    route = await (await api.get(f"/v1/batches/{answer.batch_id}")).json()
    assert [j["id"] for j in route["jobs"]] == [j.id for j in answer.jobs]
    assert route["jobs"][0]["spec"]["model"] == "kling-3.0-turbo"
    default = await api.post("/v1/generate", {"prompt": "x"})
    assert (await default.json())["jobs"][0]["spec"]["model"] == \
        api.services.settings.kling.generate_model
