"""Looks compared on one clip: the fit done once, against once per look.

    python bench/looks.py [--looks 3] [--width 1920 --height 1080] [--frames 250] [--repeat 2]

An editor comparing looks restyles one range of one clip several times. Before anything is
sent, each job fits the range into the provider's limits (a cut and an encode of up to
15 s at the source's size). Baseline, in the same run: ``--looks`` jobs prepared with the
fit cache emptied before each (every job cuts: what the pipeline did before
:mod:`kling_bridge.media.fit_cache`). Ours: the same jobs with the cache as the daemon has
it (the first job cuts, the others take its segments by hard link). Each side runs
``--repeat`` times, turn about; the fastest counts. Wall and CPU (process + ffmpeg
children) are printed, with one JSON line; exits 0 (a benchmark reports, the reader judges).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "daemon")]

from kling_bridge.config import Paths  # noqa: E402
from kling_bridge.jobs.media_pipeline import MediaPipeline  # noqa: E402
from kling_bridge.jobs.pipeline import JobContext  # noqa: E402
from kling_bridge.media.synth import SynthSpec, make_clip  # noqa: E402
from kling_bridge.providers.draft import DraftProvider  # noqa: E402
from kling_bridge.specs import Look, RestyleSpec, SourceRange  # noqa: E402

LOOKS = ["film-noir", "anime-cel", "watercolor", "remix-cobalt", "remix-emerald"]


def cpu() -> float:
    """CPU seconds used so far by this process and its finished children (ffmpeg)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


async def prepare_looks(pipeline: MediaPipeline, provider: DraftProvider, clip: Path,
                        frames: int, looks: list[str], work: Path, cold: bool) -> None:
    """One restyle job per look of the clip's whole range, prepared as the engine does;
    ``cold``: the fit cache emptied before each job."""
    for look in looks:
        if cold:
            shutil.rmtree(pipeline.fits.root, ignore_errors=True)
        spec = RestyleSpec(SourceRange(str(clip), 0, frames, "25", 12, 12), Look(look),
                           resolution="1080p")
        job = uuid.uuid4().hex
        ctx = JobContext(job, "restyle", spec, work / "jobs" / job, work / "outputs", provider)
        ctx.workdir.mkdir(parents=True)
        await pipeline.prepare(ctx)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--looks", type=int, default=3)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    looks = LOOKS[:max(1, min(args.looks, len(LOOKS)))]
    with tempfile.TemporaryDirectory(prefix="kb-bench-looks-") as tmp:
        folder = Path(tmp)
        os.environ["KLING_BRIDGE_HOME"] = str(folder / "home")
        paths = Paths.resolve().ensure()
        clip = make_clip(folder / "A001.mov", SynthSpec(width=args.width, height=args.height,
                                                        rate="25", frames=args.frames))
        pipeline = MediaPipeline(paths)  # the daemon's encoder settings
        provider = DraftProvider(paths=paths)
        best: dict[str, tuple[float, float]] = {}
        for turn in range(args.repeat):
            for side, cold in (("baseline", True), ("ours", False)):
                shutil.rmtree(pipeline.fits.root, ignore_errors=True)
                work = folder / f"{side}-{turn}"
                start, start_cpu = time.perf_counter(), cpu()
                asyncio.run(prepare_looks(pipeline, provider, clip, args.frames, looks, work,
                                          cold))
                took = (time.perf_counter() - start, cpu() - start_cpu)
                old = best.get(side, took)
                best[side] = (min(old[0], took[0]), min(old[1], took[1]))
                shutil.rmtree(work, ignore_errors=True)
    (bw, bc), (ow, oc) = best["baseline"], best["ours"]
    print(f"{len(looks)} looks of one {args.width}x{args.height} clip, {args.frames} frames "
          f"(the whole clip), prepared for the draft provider")
    print(f"fit per look (baseline): {bw:7.2f} s wall, {bc:7.2f} s CPU")
    print(f"fit once, then taken:    {ow:7.2f} s wall, {oc:7.2f} s CPU")
    print(f"ratio: {ow / bw:.2f}x wall, {oc / bc:.2f}x CPU (1/{len(looks)} = "
          f"{1 / len(looks):.2f} is the floor: one fit for {len(looks)} looks)")
    print(json.dumps({"bench": "looks", "looks": len(looks), "frames": args.frames,
                      "size": f"{args.width}x{args.height}", "baseline_s": round(bw, 3),
                      "ours_s": round(ow, 3), "baseline_cpu_s": round(bc, 3),
                      "ours_cpu_s": round(oc, 3), "ratio": round(ow / bw, 3),
                      "cpu_ratio": round(oc / bc, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
