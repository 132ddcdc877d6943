"""A dry run shows the plan (issue 10): the jobs that would be created -- clip, range, look,
price -- the clips left out with the reason, and the clips whose media is missing; in the
API's answer, so plugins show it too. And a preset typo names the nearest preset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from kling_bridge.api import schemas as s
from kling_bridge.media.synth import make_clip

from .conftest import Api

RATE = 25


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("plan-media")
    return [make_clip(d / f"A00{n}.mov", frames=75, rate="25") for n in (1, 2)]


def timeline(shots: list[Path], missing: Path) -> dict[str, Any]:
    tl = otio.schema.Timeline(name="cut", global_start_time=otio.opentime.RationalTime(0, RATE))
    track = otio.schema.Track(name="V1")
    for path in [*shots, missing]:
        ref = otio.schema.ExternalReference(
            target_url=path.as_uri(), available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, RATE), otio.opentime.RationalTime(75, RATE)))
        track.append(otio.schema.Clip(
            name=path.stem, media_reference=ref, source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(10, RATE), otio.opentime.RationalTime(40, RATE))))
    title = otio.schema.Clip(name="Title", media_reference=otio.schema.GeneratorReference(
        generator_kind="Text"), source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, RATE), otio.opentime.RationalTime(25, RATE)))
    track.append(title)
    tl.tracks.append(track)
    return json.loads(otio.adapters.write_to_string(tl, "otio_json"))


async def test_a_dry_run_answers_the_jobs_it_would_create(api: Api, shots: list[Path],
                                                        tmp_path: Path) -> None:
    missing = tmp_path / "A009 offline.mov"
    r = await api.post("/v1/restyle", {
        "timeline": timeline(shots, missing), "select": {"mode": "all", "handles": 0},
        "looks": [{"preset": "film-noir"}, {"preset": "anime"}], "dry_run": True})
    assert r.status == 200, await r.text()
    body = s.BatchOut.model_validate(await r.json())  # the published shape
    assert body.dry_run and body.batch_id is None
    jobs = body.jobs
    assert len(jobs) == 4  # two clips x two looks
    assert {j.state for j in jobs} == {"planned"} and {j.id for j in jobs} == {""}
    assert sorted((j.spec["clip"]["name"], j.spec["look"]["preset"]) for j in jobs) == [
        ("A001", "anime"), ("A001", "film-noir"), ("A002", "anime"), ("A002", "film-noir")]
    for job in jobs:
        src = job.spec["source"]
        assert (src["start_frame"], src["frame_count"], src["rate"]) == (10, 40, "25")
        assert job.estimate.units > 0  # the fake provider charges per second
    assert sum(j.estimate.units for j in jobs) == pytest.approx(body.estimate.units)
    skipped = {k.name: k.reason for k in body.skipped}
    assert skipped["A009 offline"].startswith(f"media not found at {missing}")
    assert "generator or title" in skipped["Title"]
    assert (await (await api.get("/v1/jobs")).json())["jobs"] == []  # nothing created


async def test_a_preset_typo_names_the_nearest(api: Api, shots: list[Path]) -> None:
    r = await api.post("/v1/restyle", {"clips": [{"path": str(shots[0])}],
                                       "look": {"preset": "film-nior"}})
    err = (await r.json())["error"]
    assert r.status == 400 and err["code"] == "unknown_preset"
    assert "did you mean 'film-noir'?" in err["message"]
