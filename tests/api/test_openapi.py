"""/v1/openapi.json is kept true: it lists exactly the routes the app serves, and the
answers the app gives validate against the schemas it publishes."""

from __future__ import annotations

import jsonschema
import pytest

from kling_bridge.api.openapi import OPERATIONS

from .conftest import Api

pytestmark = pytest.mark.asyncio


async def test_document_and_router_agree(api: Api) -> None:
    doc = await (await api.client.get("/v1/openapi.json", headers={"Host": api.host})).json()
    assert doc["openapi"].startswith("3.1")
    served = set()
    for route in api.client.app.router.routes():
        if route.method == "HEAD":
            continue
        assert route.name, f"route without a name: {route}"
        assert (route.method, route.name) in OPERATIONS, f"undocumented route {route.name}"
        assert route.resource is not None
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        served.add((route.method.lower(), path))
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented
    assert len(documented) == len(OPERATIONS)
    # Every $ref points at a published schema.
    refs = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[-1])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert refs <= set(doc["components"]["schemas"]), refs - set(doc["components"]["schemas"])


async def test_answers_validate_against_published_schemas(api: Api) -> None:
    doc = await (await api.client.get("/v1/openapi.json", headers={"Host": api.host})).json()
    schemas = doc["components"]["schemas"]

    def check(path: str, method: str, status: str, body: object) -> None:
        op = doc["paths"][path][method]
        schema = op["responses"][status]["content"]["application/json"]["schema"]
        resolver_doc = {"components": {"schemas": schemas}, **schema}
        jsonschema.validate(body, resolver_doc)

    r = await api.post("/v1/generate", {"prompt": "validated", "duration": 4})
    created = await r.json()
    check("/v1/generate", "post", "201", created)
    job_id = created["jobs"][0]["id"]
    check("/v1/jobs/{id}", "get", "200", await (await api.get(f"/v1/jobs/{job_id}")).json())
    check("/v1/jobs", "get", "200", await (await api.get("/v1/jobs")).json())
    check("/v1/health", "get", "200", await (await api.get("/v1/health")).json())
    check("/v1/presets", "get", "200", await (await api.get("/v1/presets")).json())
    r = await api.get("/v1/jobs/j0000000000000000000000000")
    check("/v1/jobs/{id}", "get", "4XX", await r.json())


async def test_export_answer_validates_against_its_schema(api: Api, tmp_path: object) -> None:
    from pathlib import Path

    from .test_timeline_api import finish

    doc = await (await api.client.get("/v1/openapi.json", headers={"Host": api.host})).json()
    op = doc["paths"]["/v1/batches/{id}/export"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ExportIn")
    created = await (await api.post("/v1/generate", {"prompt": "exported", "duration": 4})).json()
    await finish(api, [j["id"] for j in created["jobs"]])
    folder = Path(str(tmp_path)) / "exported"
    r = await api.post(f"/v1/batches/{created['batch_id']}/export", {"folder": str(folder)})
    body = await r.json()
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {"components": doc["components"], **schema})
    assert body["files"] and body["timelines"] == []  # no timeline: no result timeline
