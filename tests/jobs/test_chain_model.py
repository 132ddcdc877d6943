"""The chain core, pure: how a finished job feeds the next link, and what state a chain is
in -- no engine, no disk, no clock."""

from __future__ import annotations

import pytest

from kling_bridge.jobs import model as m
from kling_bridge.jobs.chain_model import (
    BLOCKED,
    PENDING_SOURCE,
    REFUSED,
    WAITING,
    BindError,
    Link,
    bind,
    chain_state,
    link_state,
    pending_source,
    timeline_frames,
)
from kling_bridge.specs import (
    ClipRef,
    GenerateSpec,
    JobResult,
    Look,
    OutputFile,
    RestyleSpec,
    SourceRange,
    spec_to_dict,
)

CLIP = ClipRef("c1", "A001", track_index=1, record_start=240, record_duration=80,
               timeline_rate="25")


def finished(kind: m.JobKind, spec: object, video: OutputFile | None,
             meta: dict[str, object] | None = None,
             state: m.JobState = m.JobState.SUCCEEDED) -> m.Job:
    outputs = (video,) if video else ()
    return m.Job(id="j" + "1" * 23, batch_id="b" + "1" * 23, kind=kind, provider="draft",
                 spec=spec_to_dict(spec), state=state, label="parent",  # type: ignore[arg-type]
                 result=JobResult(outputs, meta or {}).to_dict())


def link(kind: m.JobKind, template: object, feed: str, **kw: object) -> Link:
    fields: dict[str, object] = {"chain_id": "c" + "0" * 23, "index": 1,
                                 "job_id": "j" + "2" * 23, "kind": kind,
                                 "parent": "j" + "1" * 23, "feed": feed,
                                 "template": spec_to_dict(template),  # type: ignore[arg-type]
                                 "label": "A001 · more like this", "estimate_units": 3.0}
    fields.update(kw)
    return Link(**fields)  # type: ignore[arg-type]


def test_a_restyle_link_takes_the_generated_clip_and_its_place() -> None:
    generated = OutputFile("/out/gen.mp4", "video", frames=121, rate="24")
    parent = finished(m.JobKind.GENERATE, GenerateSpec(prompt="harbour", duration=5), generated)
    template = RestyleSpec(source=pending_source(5), look=Look("film-noir"),
                           clip=ClipRef("generated:p", "harbour", track_index=2, record_start=48,
                                        timeline_rate="25"))
    assert template.source.path == PENDING_SOURCE and template.source.seconds == 5
    spec = bind(link(m.JobKind.RESTYLE, template, "source"), parent)
    assert isinstance(spec, RestyleSpec)
    assert spec.source == SourceRange("/out/gen.mp4", 0, 121, "24")
    # its length on a 25 fps timeline: 121 frames at 24 fps last 126 frames at 25
    assert spec.clip is not None and spec.clip.record_duration == 126
    assert spec.look == Look("film-noir") and spec.clip.record_start == 48


def test_b_roll_follows_the_restyle_s_look_and_lands_after_its_clip() -> None:
    restyled = OutputFile("/out/A001.noir.mov", "video", frames=80, rate="25")
    parent = finished(m.JobKind.RESTYLE, RestyleSpec(SourceRange("/m/A001.mov", 0, 80, "25"),
                                                     Look("film-noir"), clip=CLIP),
                      restyled, {"look_words": "Film noir: high contrast."})
    template = GenerateSpec(prompt="rooftops", duration=4, feature_video=PENDING_SOURCE)
    spec = bind(link(m.JobKind.GENERATE, template, "feature"), parent)
    assert isinstance(spec, GenerateSpec)
    assert spec.feature_video == "/out/A001.noir.mov" and spec.style_image is None
    assert spec.prompt == "Film noir: high contrast. rooftops"
    assert spec.placement is not None and spec.conform is not None
    assert (spec.placement.record_start, spec.placement.record_duration) == (320, 100)
    assert spec.placement.track_index == -1  # the B-roll track
    assert (spec.conform.rate, spec.conform.frames) == ("25", 100)
    framed = bind(link(m.JobKind.GENERATE, template, "frame"), parent)
    assert isinstance(framed, GenerateSpec) and framed.style_image == "/out/A001.noir.mov"
    placed = GenerateSpec(prompt="x", placement=ClipRef("marker-1", "m", track_index=-1,
                                                     record_start=500, record_duration=50,
                                                     timeline_rate="25"),
                          feature_video=PENDING_SOURCE)
    kept = bind(link(m.JobKind.GENERATE, placed, "feature"), parent)
    assert isinstance(kept, GenerateSpec) and kept.placement == placed.placement


def test_a_result_that_cannot_feed_its_link_is_refused() -> None:
    no_length = finished(m.JobKind.GENERATE, GenerateSpec(prompt="x"),
                         OutputFile("/out/x.mp4", "video"))
    with pytest.raises(BindError, match="no video"):
        bind(link(m.JobKind.RESTYLE, RestyleSpec(pending_source(5), Look("fog")), "source"),
             no_length)
    failed = finished(m.JobKind.GENERATE, GenerateSpec(prompt="x"), None,
                      state=m.JobState.FAILED)
    with pytest.raises(BindError, match="no result"):
        bind(link(m.JobKind.GENERATE, GenerateSpec(prompt="x"), "feature"), failed)


def test_link_and_chain_states() -> None:
    lk = link(m.JobKind.GENERATE, GenerateSpec(prompt="x"), "feature")
    running = finished(m.JobKind.RESTYLE, GenerateSpec(), None, state=m.JobState.RUNNING)
    assert link_state(lk, None, running) == WAITING
    assert link_state(lk, None, None) == WAITING  # the parent link is not created yet
    failed = finished(m.JobKind.RESTYLE, GenerateSpec(), None, state=m.JobState.FAILED)
    assert link_state(lk, None, failed) == BLOCKED
    assert link_state(Link(**{**lk.__dict__, "error": "no video"}), None, failed) == REFUSED
    assert chain_state(["succeeded", WAITING]) == "running"
    assert chain_state(["succeeded", "succeeded"]) == "succeeded"
    assert chain_state(["succeeded", "failed"]) == "partial"
    assert chain_state(["failed", BLOCKED]) == "failed"
    assert chain_state(["cancelled", BLOCKED]) == "cancelled"
    assert chain_state(["succeeded", "needs_attention"]) == "needs_attention"
    assert timeline_frames(72, "24", "30000/1001") == 90
