"""Building editors' timelines in the fake Resolve through Resolve's own API, and reading
what the plugin left there."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

from fake_resolve import FakeResolveApp

STUDIO = "DaVinci Resolve Studio"
FREE = "DaVinci Resolve"


def empty_timeline(rate: str, *, product: str = STUDIO, version: tuple[int, ...] = (21, 0, 4, 0)
                   ) -> tuple[FakeResolveApp, Any]:
    """A new project with one empty 320x180 timeline at ``rate`` (01:00:00:00)."""
    app = FakeResolveApp(product=product, version=version)
    project = app.resolve.GetProjectManager().GetCurrentProject()
    project.SetSetting("timelineFrameRate", rate)
    project.SetSetting("timelineResolutionWidth", "320")
    project.SetSetting("timelineResolutionHeight", "180")
    return app, project.GetMediaPool().CreateEmptyTimeline("Cut")


def cut(clip: Path, rate: str, *, product: str = STUDIO,
        version: tuple[int, ...] = (21, 0, 4, 0)) -> tuple[FakeResolveApp, Any, list[Any]]:
    """A 320x180 timeline at ``rate`` starting 01:00:00:00 with two pieces of ``clip`` on V1
    (source 4-27 at the start, source 10-39 right after), sound on A1."""
    app, timeline = empty_timeline(rate, product=product, version=version)
    pool = app.resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    (media,) = pool.ImportMedia([str(clip)])
    start = timeline.GetStartFrame()
    first = pool.AppendToTimeline([{"mediaPoolItem": media, "startFrame": 4, "endFrame": 28,
                                    "trackIndex": 1, "recordFrame": start}])
    second = pool.AppendToTimeline([{"mediaPoolItem": media, "startFrame": 10, "endFrame": 40,
                                     "trackIndex": 1, "recordFrame": start + 24}])
    items = [first[0], second[0]]
    assert all(i.GetUniqueId() for i in items)
    return app, timeline, items


def probe_frames(path: str | Path) -> tuple[int, Fraction]:
    out = subprocess.check_output(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
         "stream=nb_read_packets,r_frame_rate", "-of", "json", str(path)])
    stream = json.loads(out)["streams"][0]
    return int(stream["nb_read_packets"]), Fraction(stream["r_frame_rate"])


def take_paths(app: FakeResolveApp, item: dict[str, Any]) -> list[str]:
    return [app.media(t["media"])["props"]["File Path"] for t in item["takes"]]


def custom_markers(item: dict[str, Any]) -> list[str]:
    return [m["customData"] for m in item.get("markers", [])
            if m.get("customData", "").startswith("kling-bridge job=")]


def bin_paths(app: FakeResolveApp, name: str = "Kling Bridge") -> list[str]:
    for folder in app.state["project"]["root"]["folders"]:
        if folder["name"] == name:
            return sorted(app.media(c)["props"]["File Path"] for c in folder["clips"])
    return []
