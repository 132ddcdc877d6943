"""The Resolve plugin's own work on a 5,000-clip timeline, against reading and writing the
OTIO export it sends.

    python bench/resolve_plugin.py [--clips 5000] [--repeat 3]

Baseline (same export, same run): ``json.load`` of Resolve's OTIO export plus ``json.dumps``
of it -- the least any script that forwards Resolve's export does. Ours: the plugin's path
from the export to the request body -- ``marking.mark`` (every video item of the parsed
export walked to its record frame, the chosen 10 % marked, prompt markers dropped) and
``json.dumps`` of the request -- plus ``selection.choose`` over the items read from the
timeline. Reading the items through Resolve's API (``host.facts``) is printed apart: on the
fake Resolve it measures the plugin's per-call overhead, not Resolve's own speed.

Prints the figures and one JSON line; goal: ratio <= 2.0. Exits 0 either way.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins" / "resolve"), str(ROOT / "tests" / "resolve")]

from fake_resolve import FakeResolveApp  # noqa: E402
from kling_bridge_resolve import marking, selection  # noqa: E402
from kling_bridge_resolve.host import Host  # noqa: E402


def make_session(clips: int) -> tuple[FakeResolveApp, object]:
    """Two video tracks and their sound, camera clips at 23.976 from 01:00:00:00."""
    app = FakeResolveApp(version=(21, 0, 4, 0))
    project = app.resolve.GetProjectManager().GetCurrentProject()
    project.SetSetting("timelineFrameRate", "23.976")
    timeline = project.GetMediaPool().CreateEmptyTimeline("feature reel")
    state = app.timeline(timeline.GetUniqueId())
    state["video"].append({"name": "Video 2", "items": []})
    media = app.state["project"]["media"]
    for n in range(200):  # 200 camera files, cut into many pieces each
        mid = f"mpi-{n}"
        media[mid] = {"id": mid, "name": f"A001C{n:03d}.mov", "colour": "", "markers": [],
                      "props": {"File Path": f"/Volumes/Media/day{n % 7}/A001C{n:03d}.mov",
                                "FPS": 23.976, "Frames": "4800", "Start TC": "10:00:00:00",
                                "_rate": "24000/1001", "_start": 864000, "_audio": True}}
    per_track = clips // 2
    for number, track in enumerate(state["video"], 1):
        position = state["start"]
        for n in range(per_track):
            position += 12 if n % 10 == 0 else 0
            item = {"id": f"item-{number}-{n}", "name": f"A001C{n % 200:03d}.mov",
                    "media": f"mpi-{n % 200}", "start": position, "duration": 48 + n % 24,
                    "left": (n * 37) % 4000, "colour": "Orange" if n % 10 == 3 else "",
                    "enabled": True, "markers": [], "takes": [], "take": 0, "link": None}
            track["items"].append(item)
            position += item["duration"]
    return app, timeline


def best(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds) over ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    app, timeline = make_session(args.clips)
    host = Host.from_namespace(app.namespace())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.otio"
        timeline.Export(str(path), app.resolve.EXPORT_OTIO)
        text = path.read_text()
    facts_wall, facts_cpu = best(lambda: host.facts(timeline), 1)
    facts = host.facts(timeline)
    choice = selection.choose(facts, "Orange", colour_of=host.colour_of,
                              complete=host.complete)

    def baseline() -> None:
        json.dumps(json.loads(text))

    def ours() -> None:
        doc = json.loads(text)
        chosen = selection.choose(facts, "Orange", colour_of=host.colour_of,
                                  complete=host.complete)
        marked, missing = marking.mark(doc, chosen.items, facts.rate, in_place=True)
        assert not missing
        json.dumps({"timeline": marked, "select": {"mode": "marked"}})

    base_wall, base_cpu = best(baseline, args.repeat)
    our_wall, our_cpu = best(ours, args.repeat)
    marked, _ = marking.mark(json.loads(text), choice.items, facts.rate)
    assert len(marking.marked_ids(marked)) == len(choice.items)
    print(f"timeline: {args.clips} clips, export {len(text) / 1e6:.1f} MB, "
          f"{len(choice.items)} chosen by clip colour")
    print(f"read through the API (fake Resolve): {facts_wall:.2f} s "
          f"({facts_wall / args.clips * 1e6:.0f} us per clip)")
    print(f"baseline json load+dump: {base_wall:.3f} s wall, {base_cpu:.3f} s CPU")
    print(f"plugin export->request:  {our_wall:.3f} s wall, {our_cpu:.3f} s CPU")
    print(f"ratio: {our_wall / base_wall:.2f} wall, {our_cpu / base_cpu:.2f} CPU (goal <= 2.0)")
    print(json.dumps({"bench": "resolve_plugin", "clips": args.clips,
                      "ratio_wall": round(our_wall / base_wall, 3),
                      "ratio_cpu": round(our_cpu / base_cpu, 3),
                      "api_read_us_per_clip": round(facts_wall / args.clips * 1e6),
                      "api_read_cpu_s": round(facts_cpu, 3)}))


if __name__ == "__main__":
    main()
