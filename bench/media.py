"""Fit + conform against the plain ffmpeg commands that do the same work, and memory.

    python bench/media.py [--width 1920 --height 1080 --rate 25] [--lengths 10,40]
                          [--preset veryfast] [--quick]

For each clip length, in the same run:

* **plain** -- what an expert would type: one ``ffmpeg -ss .. -frames:v ..`` per segment
  (same cut points, size, rate and encoder settings as our plan), then one ``ffmpeg``
  that concatenates the 24 fps answers, retimes, scales and lays the source's audio under.
* **ours** -- the bridge's path in a fresh process: probe (counted frames, VFR check),
  plan, scene detection where a cut may move, frame-exact extraction, then conform
  (crop-back, per-segment exact retime, sample-exact audio, timecode).

The provider's answers (24 fps) are simulated once per length and are not timed.
Goal: ours / plain <= 1.15 in wall time. On a shared machine wall time is noisy, so the
CPU time of both sides (process + ffmpeg children) is reported too, and each side runs
``--repeat`` times with the fastest run counted. Memory: the peak RSS of our process and
of the largest ffmpeg child, per length -- flat in the clip's length means nothing is
loaded whole (the stitch opens one decoder per segment, so ffmpeg's peak follows the
number of 15 s segments, not the number of frames).
Probing, per length: our measured probe (streams, counted frames, exact rate, VFR check: one
ffprobe process) against the plain ``ffprobe -show_format -show_streams`` (headers only),
CPU per probe, the cache emptied each time -- the ratio is what measuring costs over reading.
Prints the figures and one JSON line; exits 0 either way.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "daemon")]

from kling_bridge.media import facts  # noqa: E402
from kling_bridge.media.conform import ConformOptions, conform  # noqa: E402
from kling_bridge.media.extract import detect_scene_cuts, extract_segment  # noqa: E402
from kling_bridge.media.fit import FitPlan, plan_fit, scene_windows  # noqa: E402
from kling_bridge.media.probe import probe  # noqa: E402
from kling_bridge.media.synth import SynthSpec, make_clip  # noqa: E402
from kling_bridge.specs import InputLimits, SourceRange, rate_str  # noqa: E402

FF = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y"]


def cpu() -> float:
    """CPU seconds used so far by this process and its finished children (ffmpeg)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def ours(src: Path, rate: str, frames: int, answers: list[Path], work: Path, preset: str
         ) -> dict[str, float]:
    """The bridge's fit + conform, timed (runs in a fresh process for a clean peak RSS)."""
    c0 = cpu()
    t0 = time.perf_counter()
    info = probe(src)
    rng = SourceRange(str(src), 0, frames, rate)
    limits = InputLimits()
    plan = plan_fit(rng, info, limits, resolution="1080p", preset=preset)
    if len(plan.segments) > 1:
        cuts: tuple[int, ...] = ()
        for lo, hi in scene_windows(plan.window_frames, len(plan.segments)):
            cuts += detect_scene_cuts(info, plan.window_start + lo, hi - lo, plan.rate)
        if cuts:
            plan = plan_fit(rng, info, limits, resolution="1080p", preset=preset,
                            scene_cuts=cuts)
    for seg in plan.segments:
        extract_segment(plan, seg, work)
    t1 = time.perf_counter()
    conform(plan, answers, work / "result.mov", ConformOptions(preset=preset))
    t2 = time.perf_counter()
    c2 = cpu()
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = probe(work / "result.mov")
    assert out.video is not None and out.video.frame_count == frames, "not frame exact"
    return {"fit_s": t1 - t0, "conform_s": t2 - t1, "cpu_s": c2 - c0,
            "self_peak_mb": self_peak / 1024,
            "ffmpeg_peak_mb": child_peak / 1024, "segments": len(plan.segments)}


def probe_cpu(src: Path, repeat: int = 10) -> tuple[float, float]:
    """CPU seconds per probe: ours (uncached) and a plain headers-only ffprobe."""
    c0 = cpu()
    for _ in range(repeat):
        facts.forget_all()
        probe(src)
    c1 = cpu()
    for _ in range(repeat):
        subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json",
                        str(src)], capture_output=True, check=True)
    return (c1 - c0) / repeat, (cpu() - c1) / repeat


def plain_fit(plan: FitPlan, work: Path) -> list[Path]:
    """Hand-written extraction: seek, count frames, scale, encode -- per segment."""
    src, rate = plan.media.path, plan.rate
    w, h = plan.canvas
    enc = plan.encode
    outs = []
    for seg in plan.segments:
        ss = float((seg.src_start - Fraction(1, 2)) / rate)
        dest = work / f"plain_{seg.index}.mp4"
        args = [*FF, *(["-ss", f"{ss:.6f}"] if ss > 0 else []), "-i", src,
                "-frames:v", str(seg.fit_frames), "-vf", f"scale={w}:{h}:flags=bicubic",
                "-r", rate_str(rate), "-c:v", "libx264", "-preset", enc.preset,
                "-crf", str(enc.crf), "-maxrate", f"{enc.video_kbps_max}k",
                "-bufsize", f"{enc.video_kbps_max}k", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", f"{enc.audio_kbps}k", "-movflags", "+faststart",
                str(dest)]
        subprocess.run(args, check=True)
        outs.append(dest)
    return outs


def simulate_answers(segments: list[Path], work: Path) -> list[Path]:
    outs = []
    for n, seg in enumerate(segments):
        dest = work / f"answer_{n}.mp4"
        subprocess.run([*FF, "-i", str(seg), "-vf", "fps=24,scale=-2:1080", "-c:v", "libx264",
                        "-preset", "ultrafast", "-crf", "20", "-c:a", "aac", str(dest)],
                       check=True)
        outs.append(dest)
    return outs


def plain_conform(plan: FitPlan, answers: list[Path], work: Path, preset: str) -> None:
    t = plan.target
    n = len(answers)
    ins = [a for p in answers for a in ("-i", str(p))]
    samples = round(Fraction(t.frame_count) / plan.rate * 48000)
    graph = ("".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0,"
             f"fps={rate_str(plan.rate)},scale={t.width}:{t.height}:flags=lanczos[v];"
             f"[{n}:a]atrim=end_sample={samples}[a]")
    args = [*FF, *ins, "-i", plan.media.path, "-filter_complex", graph, "-map", "[v]",
            "-map", "[a]", "-frames:v", str(t.frame_count), "-c:v", "libx264",
            "-preset", preset, "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le"]
    if t.timecode:
        args += ["-timecode", t.timecode]
    subprocess.run([*args, str(work / "plain_result.mov")], check=True)


def child_main(argv: list[str]) -> None:
    src, rate, frames, work, preset, *answers = argv
    print(json.dumps(ours(Path(src), rate, int(frames), [Path(a) for a in answers],
                          Path(work), preset)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--rate", default="25")
    ap.add_argument("--lengths", default="10,40", help="clip lengths in seconds")
    ap.add_argument("--preset", default="veryfast", help="x264 preset for both sides")
    ap.add_argument("--quick", action="store_true", help="640x360, 6 and 24 s")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs per side; the fastest counts (a shared machine is noisy)")
    args = ap.parse_args()
    if args.quick:
        args.width, args.height, args.lengths = 640, 360, "6,24"
    lengths = [int(x) for x in args.lengths.split(",")]
    rate = Fraction(args.rate)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-media-") as tmp:
        root = Path(tmp)
        for secs in lengths:
            work = root / f"{secs}s"
            work.mkdir()
            frames = int(secs * rate)
            src = make_clip(work / "source.mov", SynthSpec(
                width=args.width, height=args.height, rate=args.rate, frames=frames,
                pattern="testsrc2", timecode="01:00:00:00", preset="ultrafast", crf=18))
            info = probe(src)
            probe_ours, probe_plain = probe_cpu(src)
            plan = plan_fit(SourceRange(str(src), 0, frames, args.rate), info, InputLimits(),
                            resolution="1080p", preset=args.preset)
            answers = simulate_answers(plain_fit(plan, work), work)
            plain_runs, our_runs = [], []
            for _ in range(args.repeat):
                c0, t0 = cpu(), time.perf_counter()
                plain_fit(plan, work)
                t1 = time.perf_counter()
                plain_conform(plan, answers, work, args.preset)
                plain_runs.append((t1 - t0, time.perf_counter() - t1, cpu() - c0))
                ours_dir = work / f"ours{len(our_runs)}"
                ours_dir.mkdir()
                child = subprocess.run(
                    [sys.executable, __file__, "--child", str(src), args.rate, str(frames),
                     str(ours_dir), args.preset, *map(str, answers)],
                    capture_output=True, text=True, check=True)
                our_runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            t_plain_fit, t_plain_conform, plain_cpu = min(plain_runs, key=lambda r: r[0] + r[1])
            mine = min(our_runs, key=lambda r: r["fit_s"] + r["conform_s"])
            plain_cpu = min(r[2] for r in plain_runs)
            our_cpu = min(r["cpu_s"] for r in our_runs)
            plain_total = t_plain_fit + t_plain_conform
            ours_total = mine["fit_s"] + mine["conform_s"]
            row = {"seconds": secs, "frames": frames, "segments": mine["segments"],
                   "plain_fit_s": round(t_plain_fit, 2),
                   "plain_conform_s": round(t_plain_conform, 2),
                   "ours_fit_s": round(mine["fit_s"], 2),
                   "ours_conform_s": round(mine["conform_s"], 2),
                   "ratio": round(ours_total / plain_total, 3),
                   "plain_cpu_s": round(plain_cpu, 2), "ours_cpu_s": round(our_cpu, 2),
                   "cpu_ratio": round(our_cpu / plain_cpu, 3),
                   "self_peak_mb": round(mine["self_peak_mb"], 1),
                   "ffmpeg_peak_mb": round(mine["ffmpeg_peak_mb"], 1),
                   "probe_ours_ms": round(probe_ours * 1000, 1),
                   "probe_plain_ms": round(probe_plain * 1000, 1),
                   "probe_cpu_ratio": round(probe_ours / probe_plain, 3)}
            rows.append(row)
            print(f"{secs:>4} s {args.width}x{args.height}@{args.rate}: {row['segments']} "
                  f"segment(s)  plain {plain_total:6.2f} s  ours {ours_total:6.2f} s  "
                  f"ratio {row['ratio']:.3f}  (goal <= 1.15; CPU ratio {row['cpu_ratio']:.3f})"
                  f"   peak RSS: python "
                  f"{row['self_peak_mb']:.0f} MB, ffmpeg {row['ffmpeg_peak_mb']:.0f} MB")
            print(f"       probe: ours {row['probe_ours_ms']:.0f} ms CPU, plain ffprobe "
                  f"-show_streams {row['probe_plain_ms']:.0f} ms, ratio "
                  f"{row['probe_cpu_ratio']:.3f}")
    first, last = rows[0], rows[-1]
    growth = {
        "length_ratio": round(last["seconds"] / first["seconds"], 2),
        "python_peak_ratio": round(last["self_peak_mb"] / first["self_peak_mb"], 3),
        "ffmpeg_peak_ratio": round(last["ffmpeg_peak_mb"] / first["ffmpeg_peak_mb"], 3),
    }
    worst = max(r["ratio"] for r in rows)
    worst_cpu = max(r["cpu_ratio"] for r in rows)
    print(f"memory: clip {growth['length_ratio']}x longer -> python peak x"
          f"{growth['python_peak_ratio']}, ffmpeg peak x{growth['ffmpeg_peak_ratio']} "
          "(flat = streamed)")
    print(f"worst wall-time ratio {worst:.3f} (goal <= 1.15): "
          f"{'met' if worst <= 1.15 else 'MISSED'}; worst CPU-time ratio {worst_cpu:.3f}")
    print(json.dumps({"bench": "media", "width": args.width, "height": args.height,
                      "rate": args.rate, "preset": args.preset, "rows": rows,
                      "worst_ratio": worst, "worst_cpu_ratio": worst_cpu, "goal": 1.15,
                      "memory": growth}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
