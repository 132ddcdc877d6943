"""``kling-bridge demo``: the whole path, offline, on a fresh machine, in about a minute.

It does what an editor would: three shots on a 25 fps timeline starting at 01:00:00:00, the
middle one marked for a film-noir restyle, a ``kling:`` marker asking for B-roll; sends the
timeline to a daemon (started in this process, on the free draft provider), waits, and writes
what comes back -- the result timeline, a flattened preview MP4 of it, and the before/after
sheet -- then says where they are. Nothing here is demo-only: it goes through the same API,
engine, media pipeline and timeline code as real work.
"""

from __future__ import annotations

import json
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from .atomic import write_text
from .client import BridgeClient
from .config import Paths, load_settings
from .export import place_copy
from .inprocess import InProcessDaemon
from .media.preview import PreviewItem, render_preview
from .media.synth import SynthSpec, make_clip
from .timeline import read_timeline
from .timeline.paths import path_from_url

RATE = 25
WIDTH, HEIGHT = 1280, 720
SHOTS = (  # name, seconds, pattern, tone
    ("Harbour wide", 4, "testsrc2", 330),
    ("Keeper walks", 5, "mandelbrot", 440),
    ("Lamp room", 4, "testsrc2", 550),
)
BROLL_PROMPT = "kling: slow aerial push over a stormy coastline at dusk, lighthouse beam"


def make_footage(folder: Path) -> list[Path]:
    clips = []
    for n, (name, seconds, pattern, tone) in enumerate(SHOTS, start=1):
        spec = SynthSpec(width=WIDTH, height=HEIGHT, rate=str(RATE), frames=seconds * RATE,
                         pattern=pattern, tone_hz=tone, timecode=f"0{n}:00:00:00",
                         label=f"{n} {name}")
        clips.append(make_clip(folder / f"A00{n} {name}.mov", spec))
    return clips


def make_timeline(clips: list[Path], dest: Path) -> Path:
    """Three shots at 25 fps from 01:00:00:00; shot 2 marked; a prompt marker on shot 3."""
    tl = otio.schema.Timeline(name="kling-bridge demo")
    tl.global_start_time = otio.opentime.from_timecode("01:00:00:00", RATE)
    video = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for n, (clip, (name, seconds, _, _)) in enumerate(zip(clips, SHOTS, strict=True), start=1):
        start = otio.opentime.from_timecode(f"0{n}:00:00:00", RATE)
        frames = seconds * RATE
        ref = otio.schema.ExternalReference(
            target_url=clip.resolve().as_uri(),
            available_range=otio.opentime.TimeRange(
                start, otio.opentime.RationalTime(frames, RATE)),
        )
        # Use a second of the middle of each shot, so handles exist on both sides.
        item = otio.schema.Clip(
            name=name, media_reference=ref,
            source_range=otio.opentime.TimeRange(
                start + otio.opentime.RationalTime(RATE // 2, RATE),
                otio.opentime.RationalTime(frames - RATE, RATE)),
        )
        if n == 2:
            item.metadata["kling_bridge"] = {"selected": True, "clip_id": "demo-shot-2"}
        if n == 3:
            item.markers.append(otio.schema.Marker(
                name="B-roll", marked_range=otio.opentime.TimeRange(
                    start + otio.opentime.RationalTime(RATE, RATE),
                    otio.opentime.RationalTime(5 * RATE, RATE)),
                comment=BROLL_PROMPT))
        video.append(item)
    tl.tracks.append(video)
    otio.adapters.write_to_file(tl, str(dest))
    return dest


def preview_items(timeline: otio.schema.Timeline) -> tuple[list[PreviewItem], int]:
    """Every video clip at its record frame; later (upper) tracks cover earlier ones."""
    rate = timeline.global_start_time.rate if timeline.global_start_time else RATE
    items: list[PreviewItem] = []
    end = 0
    for level, track in enumerate(timeline.video_tracks()):
        for clip in track.find_clips():
            ref = clip.media_reference
            path = path_from_url(getattr(ref, "target_url", "") or "")
            if not path or not Path(path).exists():
                continue
            rng = clip.range_in_parent()
            start = round(rng.start_time.rescaled_to(rate).value)
            count = round(rng.duration.rescaled_to(rate).value)
            media_start = ref.available_range.start_time if ref.available_range else None
            src = clip.source_range.start_time
            offset = src - media_start if media_start is not None else src
            items.append(PreviewItem(path, start, count, level,
                                     round(offset.rescaled_to(rate).value)))
            end = max(end, start + count)
    return items, end


def _fresh_folder(out: Path) -> Path:
    """Never write over an earlier demo: a used folder gets a numbered sibling."""
    if not out.exists() or not any(out.iterdir()):
        return out
    n = 2
    while (out.parent / f"{out.name}-{n}").exists():
        n += 1
    return out.parent / f"{out.name}-{n}"


def run_demo(paths: Paths, out: Path, *, as_json: bool = False) -> int:
    started = time.monotonic()
    out = _fresh_folder(out)
    out.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        if not as_json:
            print(text, file=sys.stderr, flush=True)

    say(f"kling-bridge demo -> {out}")
    say("  making sample footage (3 shots, 25 fps, timecode, sound)...")
    clips = make_footage(out / "footage")
    timeline_path = make_timeline(clips, out / "demo.otio")
    settings = load_settings(overrides={"provider": "draft"})
    with InProcessDaemon(settings, paths) as client:
        say("  restyling shot 2 in film noir and generating B-roll from the marker (draft)...")
        answer = client.restyle({
            "timeline_path": str(timeline_path),
            "select": {"mode": "marked", "handles": 12},
            "look": {"preset": "film-noir"},
            "resolution": "720p",
            "provider": "draft",
        })
        final = _wait(client, answer["batch_id"], say)
        failed = [j for j in final["jobs"] if j["state"] != "succeeded"]
        if failed:
            for j in failed:
                say(f"  FAILED {j['label']}: {(j.get('error') or {}).get('message')}")
            return 1
        timeline_bytes = client.batch_timeline(final["batch_id"], "otio")
    # Every result goes into the demo's folder, and the result timeline points at those
    # copies: the folder is the whole demo, to open, move or delete.
    copies = _copy_results(final, out / "results")
    result = otio.adapters.read_from_string(timeline_bytes.decode("utf-8"), "otio_json")
    _relink(result, copies)
    result_path = out / "demo.kling.otio"
    write_text(result_path, otio.adapters.write_to_string(result, "otio_json"))
    result = read_timeline(result_path).timeline
    items, total = preview_items(result)
    say("  rendering a flattened preview of the result timeline...")
    preview = render_preview(items, out / "demo-preview.mp4", rate=Fraction(RATE), width=WIDTH,
                             height=HEIGHT, total_frames=total)
    sheet = _copied(final, copies, "contact_sheet")
    broll = _copied(final, copies, "video", kind="generate")
    restyled = _copied(final, copies, "video", kind="restyle")
    report: dict[str, Any] = {
        "folder": str(out),
        "source_timeline": str(timeline_path),
        "result_timeline": str(result_path),
        "preview": str(preview),
        "before_after": sheet,
        "restyled": restyled,
        "broll": broll,
        "results": sorted(copies.values()),
        "jobs": [{"label": j["label"], "state": j["state"], "provider": j["provider"]}
                 for j in final["jobs"]],
        "seconds": round(time.monotonic() - started, 1),
    }
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(f"""
Done in {report['seconds']} s (draft provider: free, offline, labelled as drafts).
  result timeline : {result_path}
                    (shot 2 restyled on track "film-noir" exactly over its source;
                     the B-roll on its own track at the kling: marker)
  preview         : {preview}
  before / after  : {sheet}
  restyled clip   : {restyled}
  B-roll clip     : {broll}
  every result    : {out / "results"}
  sample timeline : {timeline_path}
Open the result timeline in any OTIO-aware editor, or play the preview.
With a Kling account: kling-bridge login, then set provider = "kling" in config.toml.""")
    return 0


def _wait(client: BridgeClient, batch_id: str, say: Any) -> dict[str, Any]:
    last: dict[str, str] = {}

    def update(batch: dict[str, Any]) -> None:
        for job in batch["jobs"]:
            if last.get(job["id"]) != job["state"]:
                last[job["id"]] = job["state"]
                say(f"    {job['label'][:48]:<48} {job['state']}")

    result: dict[str, Any] = client.wait_batch(batch_id, on_update=update, interval=0.3)
    return result


def _copy_results(batch: dict[str, Any], folder: Path) -> dict[str, str]:
    """Every output of every finished job into ``folder`` (never over a file): daemon
    path -> copy."""
    copies: dict[str, str] = {}
    for job in batch["jobs"]:
        for output in (job.get("result") or {}).get("outputs", []):
            src = Path(output["path"])
            if src.is_file() and output["path"] not in copies:
                copies[output["path"]] = str(place_copy(src, folder))
    return copies


def _relink(timeline: otio.schema.Timeline, copies: dict[str, str]) -> None:
    for clip in timeline.find_clips():
        ref = clip.media_reference
        path = path_from_url(getattr(ref, "target_url", "") or "")
        if path in copies:
            ref.target_url = Path(copies[path]).resolve().as_uri()


def _copied(batch: dict[str, Any], copies: dict[str, str], role: str,
            kind: str | None = None) -> str | None:
    for job in batch["jobs"]:
        if kind is not None and job["kind"] != kind:
            continue
        for output in (job.get("result") or {}).get("outputs", []):
            if output["role"] == role and output["path"] in copies:
                return copies[output["path"]]
    return None
