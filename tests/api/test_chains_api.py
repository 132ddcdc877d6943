"""Chains through the API over the durable fake provider: recorded whole and priced before
anything is paid, each link started when the one it follows succeeds (one paid task per
link), a refused link keeping what came before, and "apply look X to the rest"."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kling_bridge.api import schemas as s
from kling_bridge.media.synth import make_clip

from .conftest import Api

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("chain-media")
    return [make_clip(d / f"A00{n}.mov", frames=75, rate="25") for n in (1, 2)]


async def wait_batch(api: Api, batch_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        body = await (await api.get(f"/v1/batches/{batch_id}")).json()
        if body["state"] != "running":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"batch {batch_id} still running: {body}")


async def created(api: Api, body: dict[str, Any], path: str = "/v1/generate") -> s.BatchOut:
    r = await api.post(path, body)
    assert r.status == 201, await r.text()
    return s.BatchOut.model_validate(await r.json())


async def test_generate_then_restyle_is_one_priced_chain(api: Api) -> None:
    plan = await api.post("/v1/generate", {"prompt": "a harbour at dawn", "duration": 5,
                                           "then": [{"preset": "film-noir"}], "dry_run": True})
    assert plan.status == 200
    dry = s.BatchOut.model_validate(await plan.json())
    # every link priced before anything is spent (the fake charges 1 unit a second): the
    # restyle of the clip not generated yet is priced from the asked duration
    assert [j.kind for j in dry.jobs] == ["generate", "restyle"]
    assert [j.estimate.units for j in dry.jobs] == [5.0, 5.0] and dry.estimate.units == 10.0
    assert api.services.engine.store.read("SELECT COUNT(*) FROM batches") == [(0,)]

    batch = await created(api, {"prompt": "a harbour at dawn", "duration": 5,
                                "then": [{"preset": "film-noir"}]})
    assert batch.estimate.units == 10.0
    assert len(batch.jobs) == 1 and batch.jobs[0].kind == "generate"
    (chain,) = batch.chains
    assert [lk.state for lk in chain.links] in (["queued", "waiting"], ["preparing", "waiting"])
    restyle_id = chain.links[1].job_id  # known before it exists
    final = await wait_batch(api, str(batch.batch_id))
    assert final["state"] == "succeeded", final
    gen, restyle = final["jobs"]
    assert restyle["id"] == restyle_id and restyle["kind"] == "restyle"
    video = next(o for o in gen["result"]["outputs"] if o["role"] == "video")
    assert restyle["spec"]["source"] == {"path": video["path"], "start_frame": 0,
                                         "frame_count": 120, "rate": "24", "handle_before": 0,
                                         "handle_after": 0}
    assert restyle["spec"]["look"]["preset"] == "film-noir"
    # one paid task per link, each sent once
    keys = [t["external_id"] for j in final["jobs"] for t in j["tasks"]]
    assert api.provider.created() == dict.fromkeys(keys, 1)
    assert api.provider.attempts() == dict.fromkeys(keys, 1)
    chain_answer = await (await api.get(f"/v1/chains/{chain.id}")).json()
    assert chain_answer["state"] == "succeeded" and chain_answer["billed_units"] == 10.0


async def test_a_refused_second_link_keeps_and_reports_the_first(api: Api,
                                                                  clips: list[Path]) -> None:
    batch = await created(api, {
        "clips": [{"path": str(clips[0])}], "look": {"preset": "film-noir"},
        "more_like_this": {"prompt": "POLICY rooftops", "duration": 4}}, "/v1/restyle")
    final = await wait_batch(api, str(batch.batch_id))
    assert final["state"] == "partial"
    restyle, broll = final["jobs"]
    assert restyle["state"] == "succeeded" and broll["state"] == "failed"
    assert "content safety" in broll["error"]["message"]
    (chain,) = final["chains"]
    assert chain["state"] == "partial"
    kept_video = next(o["path"] for o in restyle["result"]["outputs"] if o["role"] == "video")
    assert chain["kept"] == [{"index": 0, "job_id": restyle["id"], "label": restyle["label"],
                              "video": kept_video}]
    assert chain["stopped_at"]["job_id"] == broll["id"]
    assert "content safety" in chain["stopped_at"]["error"]["message"]
    assert Path(kept_video).is_file()
    # the B-roll followed the restyled clip: its result as the reference, the look's words
    # first, placed right after the clip
    spec = broll["spec"]
    assert spec["feature_video"] == kept_video and spec["feature_mode"] == "style"
    assert spec["prompt"].startswith("film-noir") and spec["prompt"].endswith("POLICY rooftops")
    assert spec["placement"]["record_start"] == 75 and spec["conform"]["frames"] == 100


async def test_a_failed_parent_blocks_its_link_until_retried(api: Api) -> None:
    batch = await created(api, {"prompt": "FAILME storm", "duration": 3,
                                "then": [{"preset": "anime"}]})
    final = await wait_batch(api, str(batch.batch_id))
    (chain,) = final["chains"]
    assert chain["state"] == "failed" and [lk["state"] for lk in chain["links"]] == [
        "failed", "blocked"]
    assert chain["links"][1]["error"]["code"] == "blocked"
    assert len(final["jobs"]) == 1  # the restyle was never created, nothing paid for it


async def test_more_like_this_of_a_job_waits_for_it_and_keeps_its_timeline(
        api: Api, clips: list[Path]) -> None:
    api.provider.delay = 0.6  # the restyle is still running when the B-roll is asked for
    first = await created(api, {"clips": [{"path": str(clips[1])}],
                                "look": {"preset": "anime"}}, "/v1/restyle")
    job_id = first.jobs[0].id
    like = await created(api, {"prompt": "more rain", "duration": 3,
                               "reference": {"job_id": job_id, "send_as": "frame"}})
    assert like.jobs == [] and like.chains[0].links[0].state == "waiting"
    assert like.chains[0].kind == "more_like_this"
    final = await wait_batch(api, str(like.batch_id))
    assert final["state"] == "succeeded"
    (job,) = final["jobs"]
    parent = await (await api.get(f"/v1/jobs/{job_id}")).json()
    video = next(o["path"] for o in parent["result"]["outputs"] if o["role"] == "video")
    assert job["spec"]["style_image"] == video and job["spec"]["feature_video"] is None
    assert job["spec"]["model"] == "kling-3.0-omni"
    # a finished reference starts at once
    again = await created(api, {"prompt": "the next beat", "duration": 3,
                                "reference": {"job_id": job_id, "mode": "next_shot"}})
    assert len(again.jobs) == 1 and again.jobs[0].spec["feature_mode"] == "next_shot"
    bad = await api.post("/v1/generate", {"prompt": "x", "audio": True,
                                          "reference": {"job_id": job_id}})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "bad_audio"
    unknown = await api.post("/v1/generate", {"prompt": "x",
                                              "reference": {"job_id": "j" + "0" * 23}})
    assert unknown.status == 404


async def test_the_whole_chain_is_held_to_the_budget_before_anything_is_sent(
        api: Api) -> None:
    api.services.settings.budget.per_job_units = 8
    r = await api.post("/v1/generate", {"prompt": "x", "duration": 5,
                                        "then": [{"preset": "anime"}], "variants": 1})
    assert r.status == 201  # each link is 5 units
    api.services.settings.budget.per_day_units = 12
    r = await api.post("/v1/generate", {"prompt": "y", "duration": 5,
                                        "then": [{"preset": "anime"}, {"preset": "film-noir"}]})
    assert r.status == 402
    err = (await r.json())["error"]
    assert err["code"] == "budget" and "the chain" in err["message"]


async def test_apply_look_to_the_rest(api: Api, clips: list[Path]) -> None:
    compare = await created(api, {"clips": [{"path": str(clips[0])}],
                                  "looks": [{"preset": "film-noir"},
                                            {"preset": "anime", "prompt": "soft"}]},
                            "/v1/restyle")
    await wait_batch(api, str(compare.batch_id))
    picked = compare.jobs[1].id
    both = [{"path": str(c)} for c in clips]
    rest = await created(api, {"clips": both, "apply_look": {"job_id": picked}}, "/v1/restyle")
    (job,) = rest.jobs
    assert job.spec["source"]["path"] == str(clips[1])
    assert job.spec["look"] == {"preset": "anime", "prompt": "soft"}
    assert [sk.name for sk in rest.skipped] == ["A001"]
    assert picked in rest.skipped[0].reason
    everything = await created(api, {"clips": both, "apply_look": {"job_id": picked,
                                                                   "to": "all"}}, "/v1/restyle")
    assert [j.spec["source"]["path"] for j in everything.jobs] == [str(c) for c in clips]
    clash = await api.post("/v1/restyle", {"clips": both, "look": {"preset": "anime"},
                                           "apply_look": {"job_id": picked}})
    assert clash.status == 400


async def test_elements_are_kept_per_project_and_used_by_name(api: Api,
                                                              tmp_path: Path) -> None:
    from kling_bridge.media.synth import make_still

    front = make_still(tmp_path / "ada front.png", 640, 640)
    side = make_still(tmp_path / "ada side.jpg", 480, 640)
    r = await api.post("/v1/elements", {"name": "Ada", "images": [str(front), str(side)],
                                        "project": "Series 2"})
    assert r.status == 201, await r.text()
    ada = await r.json()
    assert ada["sent_as"] == "refer_image" and len(ada["images"]) == 2
    assert all(Path(p).is_file() and str(api.services.paths.data_dir) in p
               for p in ada["images"])
    front.unlink()  # the register keeps its own copies
    dup = await api.post("/v1/elements", {"name": "ADA", "images": [ada["images"][0]],
                                          "project": "Series 2"})
    assert dup.status == 409
    r = await api.post("/v1/elements", {"name": "Bolt", "images": [str(side)],
                                        "element_id": "el-bolt-1", "project": "Series 2"})
    bolt = await r.json()
    listed = await (await api.get("/v1/elements", params={"project": "Series 2"})).json()
    assert [e["name"] for e in listed["elements"]] == ["Ada", "Bolt"]
    assert (await (await api.get("/v1/elements")).json())["elements"] == []  # default project
    gen = await created(api, {"prompt": "Ada and Bolt on the pier", "duration": 3,
                              "characters": ["ada", "Bolt"], "project": "Series 2",
                              "dry_run": False})
    spec = gen.jobs[0].spec
    assert spec["refer_images"] == ada["images"] and spec["elements"] == ["el-bolt-1"]
    assert spec["element_stills"] == bolt["images"]
    assert spec["still_labels"] == ["Ada", "Ada", "Bolt"]
    assert spec["model"] == "kling-3.0-omni"
    await wait_batch(api, str(gen.batch_id))
    missing = await api.post("/v1/generate", {"prompt": "x", "characters": ["Zed"],
                                              "project": "Series 2"})
    assert missing.status == 404 and "Ada, Bolt" in (await missing.json())["error"]["hint"]
    renamed = await (await api.post(f"/v1/elements/{ada['id']}/rename",
                                    {"name": "Ada Lovelace"})).json()
    assert renamed["name"] == "Ada Lovelace" and renamed["images"] == ada["images"]
    api.provider.delay = 30  # a generation using Bolt is unfinished: Bolt cannot go yet
    busy = await created(api, {"prompt": "Bolt alone", "duration": 3,
                               "characters": ["Bolt"], "project": "Series 2"})
    refused = await api.client.delete(f"/v1/elements/{bolt['id']}", headers=api.headers())
    assert refused.status == 409 and busy.jobs[0].id in (await refused.json())["error"]["message"]
    await api.post(f"/v1/jobs/{busy.jobs[0].id}/cancel")
    gone = await api.client.delete(f"/v1/elements/{bolt['id']}", headers=api.headers())
    assert gone.status == 200
    assert not Path(bolt["images"][0]).exists()
    assert (await api.get(f"/v1/elements/{bolt['id']}")).status == 404


async def test_new_answers_validate_against_the_published_schemas(api: Api,
                                                                  tmp_path: Path) -> None:
    from kling_bridge.media.synth import make_still

    doc = await (await api.client.get("/v1/openapi.json", headers={"Host": api.host})).json()
    schemas = doc["components"]["schemas"]

    def check(path: str, method: str, status: str, body: object) -> None:
        op = doc["paths"][path][method]
        schema = op["responses"][status]["content"]["application/json"]["schema"]
        jsonschema.validate(body, {"components": {"schemas": schemas}, **schema})

    r = await api.post("/v1/generate", {"prompt": "p", "duration": 3,
                                        "then": [{"preset": "anime"}]})
    batch = await r.json()
    check("/v1/generate", "post", "201", batch)
    final = await wait_batch(api, batch["batch_id"])
    check("/v1/batches/{id}", "get", "200", final)
    chain_id = batch["chains"][0]["id"]
    check("/v1/chains/{id}", "get", "200", await (await api.get(f"/v1/chains/{chain_id}")).json())
    still = make_still(tmp_path / "s.png", 400, 400)
    added = await (await api.post("/v1/elements", {"name": "S", "images": [str(still)]})).json()
    check("/v1/elements", "post", "201", added)
    check("/v1/elements", "get", "200", await (await api.get("/v1/elements")).json())
    check("/v1/elements/{id}/rename", "post", "200",
          await (await api.post(f"/v1/elements/{added['id']}/rename", {"name": "T"})).json())
