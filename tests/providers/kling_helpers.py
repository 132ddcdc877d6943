"""Driving a provider through the never-pay-twice protocol, as the engine does.

Used where a test needs the provider alone (per operation, per fault); the end-to-end tests
go through the real job engine instead.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from kling_bridge.providers.base import (
    ErrorKind,
    ProviderError,
    TaskRequest,
    TaskStatus,
    poll_delay,
)
from kling_bridge.providers.kling import KlingProvider


async def wait_done(provider: KlingProvider, task_id: str, timeout: float = 60.0) -> TaskStatus:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        statuses = await provider.poll([task_id])
        status = statuses.get(task_id)
        if status is not None and status.done:
            return status
        age = loop.time() - start
        if age > timeout:
            raise TimeoutError(f"task {task_id} not done after {timeout}s")
        await asyncio.sleep(poll_delay(age, minimum=0.05, maximum=0.5))


async def submit_safely(provider: KlingProvider, request: TaskRequest, key: str,
                        max_rounds: int = 20) -> str:
    """Record-key -> submit -> on ANY error, look up by key -> re-send only if proven absent."""
    for _ in range(max_rounds):
        try:
            return await provider.submit(request, key)
        except ProviderError as err:
            found = await provider.lookup([key])
            if key in found:
                return found[key].task_id
            if err.kind is ErrorKind.RATE_LIMIT:
                await asyncio.sleep(0.05)
                continue
            if err.retryable or err.kind is ErrorKind.DUPLICATE:
                continue
            raise
    raise AssertionError("never got a task")


async def run(provider: KlingProvider, request: TaskRequest, key: str, out_dir: Path
              ) -> tuple[TaskStatus, list[Path]]:
    task_id = await submit_safely(provider, request, key)
    status = await wait_done(provider, task_id)
    files = [await provider.fetch(o, out_dir / f"{key}-{n}.mp4")
             for n, o in enumerate(status.outputs)]
    return status, files


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         "-count_frames", str(path)], capture_output=True, text=True, check=True).stdout
    data: dict[str, Any] = json.loads(out)
    video = next(s for s in data["streams"] if s["codec_type"] == "video")
    return {
        "duration": float(data["format"]["duration"]),
        "frames": int(video["nb_read_frames"]),
        "rate": video["r_frame_rate"],
        "audio": any(s["codec_type"] == "audio" for s in data["streams"]),
        "width": int(video["width"]),
        "height": int(video["height"]),
    }


def conformed(path: Path) -> dict[str, Any]:
    """Facts of a conformed result, counted by decoding (``-count_frames``, decoded samples)
    rather than read from headers: what an editor's timeline would actually get.

    One ffprobe for all of them (each process costs ~75 ms just to start): the streams'
    facts and every decoded frame's type and sample count, in the same pass."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=index,codec_type,nb_read_frames,r_frame_rate,width,height,sample_rate"
         ":stream_tags=timecode:frame=media_type,stream_index,nb_samples",
         "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    data: dict[str, Any] = json.loads(out)
    streams = data["streams"]
    v = next(s for s in streams if s["codec_type"] == "video")
    a: dict[str, Any] = next((s for s in streams if s["codec_type"] == "audio"), {})
    return {
        "frames": int(v["nb_read_frames"]),
        "rate": v["r_frame_rate"],
        "size": (int(v["width"]), int(v["height"])),
        "timecode": next((s["tags"]["timecode"] for s in streams
                          if "timecode" in (s.get("tags") or {})), None),
        "audio_rate": int(a.get("sample_rate", 0)),
        # the first audio stream's decoded samples (what "-select_streams a:0" counted)
        "audio_samples": sum(int(f["nb_samples"]) for f in data.get("frames") or []
                             if f.get("media_type") == "audio"
                             and f.get("stream_index") == a.get("index")),
    }
