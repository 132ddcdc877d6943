"""Both models together from the Sequencer, in real Blender against a real daemon (draft
provider): ``scenario.py chains`` (see conftest.py for the versions). Compare three looks of
a strip, apply the one picked to another strip, more like this of a restyled strip, next
shot of a plain strip, generate then restyle -- operators through the worker, and the
scripting API."""

from __future__ import annotations

from typing import Any

import pytest

Facts = dict[str, Any]

pytestmark = pytest.mark.xdist_group("blender")


def chains(blender: Facts) -> Facts:
    found = blender["chains"]
    assert found["errors"] == {}, "\n".join(found["errors"].values())
    assert found["exit_code"] == 0, found["log"]
    return found


def strips_of(facts: Facts, **props: Any) -> list[Facts]:
    return [s for s in facts["chain_strips"] if s["type"] == "MOVIE"
            and all(s["props"].get(k) == v for k, v in props.items())]


def batch(facts: Facts, label: str) -> Facts:
    return facts["chain_specs"][label]


def test_compare_looks_stacks_each_look_and_loads_the_picture(blender: Facts) -> None:
    facts = chains(blender)
    assert facts["compare_op"] == ["FINISHED"] and facts["compare_sent"]
    source = facts["chain_sources"][0]
    made = sorted((s for s in strips_of(facts, kling_kind="restyle")
                   if s["name"].startswith("shot a")), key=lambda s: s["channel"])
    assert [s["props"]["kling_preset"] for s in made] == ["film-noir", "anime-cel",
                                                          "watercolor"]
    for result, channel in zip(made, (2, 3, 4), strict=True):
        assert (result["channel"], result["start"], result["length"]) == (
            channel, source["start"], source["length"])
    comparison = facts["comparison"]
    assert [(c["index"], c["look"]) for c in comparison["columns"]] == [
        (1, "film-noir"), (2, "anime-cel"), (3, "watercolor")]
    assert [c["job_id"] for c in comparison["columns"]] == [s["props"]["kling_job"]
                                                            for s in made]
    assert comparison["path"].endswith(".png") and comparison["image"]
    width, height = facts["comparison_image"]
    assert width > height > 0  # four columns side by side: the source and three looks
    assert facts["chain_reloaded"]["comparison"] == comparison  # kept in the .blend


def test_apply_look_restyles_the_rest_in_the_look_picked(blender: Facts) -> None:
    facts = chains(blender)
    assert facts["apply_op"] == ["FINISHED"] and facts["apply_sent"]
    anime = facts["comparison"]["columns"][1]["job_id"]
    (job,) = batch(facts, f"look of {anime}")["jobs"]
    assert job["spec"]["look"]["preset"] == "anime-cel"
    assert job["spec"]["clip"]["name"] == "shot b"
    assert job["spec"]["source"]["start_frame"] == 50  # shot b's own frames
    second = facts["chain_sources"][1]
    (result,) = [s for s in strips_of(facts, kling_kind="restyle")
                 if s["name"].startswith("shot b")]
    assert (result["start"], result["length"]) == (second["start"], second["length"])
    assert result["channel"] == 2 and result["props"]["kling_preset"] == "anime-cel"


def test_more_like_this_follows_the_restyled_strip_and_lands_after_it(blender: Facts) -> None:
    facts = chains(blender)
    anime = facts["comparison"]["columns"][1]["job_id"]
    (job,) = batch(facts, "more like this · rooftops at dusk")["jobs"]
    anime_video = next(j["video"] for j in batch(
        facts, "compare · film-noir, anime-cel, watercolor")["jobs"] if j["id"] == anime)
    assert job["spec"]["feature_video"] == anime_video
    assert job["spec"]["feature_mode"] == "style" and job["spec"]["audio"] is False
    assert job["spec"]["prompt"].endswith("rooftops at dusk")  # the look's words first
    (clip,) = strips_of(facts, kling_job=job["id"])
    assert (clip["start"], clip["length"]) == (41, 75)  # where shot a ends; 3 s at 25 fps
    assert clip["channel"] == 3  # 1 and 2 hold shot b and its restyle there
    assert not [s for s in facts["chain_strips"] if s["type"] == "SOUND"
                and s["props"].get("kling_job") == job["id"]]  # silent


def test_next_shot_of_a_plain_strip_sends_its_own_frames(blender: Facts) -> None:
    facts = chains(blender)
    assert facts["next_op"] == ["FINISHED"] and facts["next_sent"]
    (job,) = batch(facts, "next shot · she turns and walks away")["jobs"]
    spec = job["spec"]
    assert spec["feature_mode"] == "next_shot" and spec["feature_video"].endswith("shot 25.mov")
    assert (spec["feature_start"], spec["feature_frames"]) == (50, 40)
    (clip,) = strips_of(facts, kling_job=job["id"])
    assert (clip["channel"], clip["start"], clip["length"]) == (1, 81, 75)


def test_generate_then_restyle_places_only_the_restyled_clip(blender: Facts) -> None:
    facts = chains(blender)
    assert facts["then_op"] == ["FINISHED"] and facts["then_sent"]
    found = batch(facts, "a harbour at dawn")
    (chain,) = found["chains"]
    generated, restyled = chain["links"]
    assert (generated["kind"], restyled["kind"]) == ("generate", "restyle")
    assert chain["state"] == "succeeded"
    assert not strips_of(facts, kling_job=generated["job_id"])
    (clip,) = strips_of(facts, kling_job=restyled["job_id"])
    assert (clip["channel"], clip["start"], clip["length"]) == (1, 200, 75)
    assert clip["props"]["kling_preset"] == "film-noir"
    assert clip["path"] == restyled["video"]
    record = next(b for b in facts["chain_jobs"]["batches"] if b["label"] == "a harbour at dawn")
    assert record["jobs"][generated["job_id"]]["note"] == "fed the next link"


def test_the_chain_dialogs_and_panel_draw(blender: Facts) -> None:
    drawn = chains(blender)["chain_drawn"]
    for name in ("more_like_this", "next_shot", "compare_looks", "apply_look",
                 "generate_then_restyle"):
        assert any(t.startswith("Price: draft, free") for t in drawn[name]), (name, drawn[name])
    assert "following job" in " ".join(drawn["more_like_this"])
    assert "2. anime-cel" in " ".join(drawn["apply_look"])
    assert any(t.startswith("Comparison: ") for t in drawn["jobs"])
