"""The draft provider: every job type, offline and free, rendered locally with ffmpeg.

It stands where Kling stands and behaves like it where the rest of the bridge can tell:
``submit`` answers at once with a task id and the work happens in the background; tasks
move submitted -> processing -> succeeded/failed; an idempotency key is single-use; tasks
are found again by key after the daemon crashes (a small status file per task under the
cache folder -- a task caught mid-render is simply rendered again, it costs nothing);
outputs are 24 fps at the requested resolution and length, with native audio when asked.

What it renders is labelled a draft everywhere (the file's metadata, the capabilities),
so nobody mistakes a filter graph for Kling's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..aging import remove_older
from ..atomic import link_or_copy, write_text
from ..config import Paths
from ..media import draft_refs, drafts
from ..media.errors import MediaError
from ..media.looks import draft_graph
from ..media.presets import PresetLibrary, load_presets
from ..media.probe import probe
from ..media.run import ffmpeg_bin
from .base import (
    ZERO,
    AudioMode,
    Capabilities,
    Cost,
    ErrorKind,
    InputLimits,
    Operation,
    ProviderError,
    Reachability,
    TaskOutput,
    TaskPhase,
    TaskRequest,
    TaskStatus,
)
from .request_json import request_from_dict, request_to_dict

log = logging.getLogger("kling_bridge.providers.draft")

#: Like Kling's result URLs, draft tasks and outputs are kept 30 days, then swept.
KEEP_SECONDS = 30 * 24 * 3600


def _bad(message: str, hint: str = "") -> ProviderError:
    return ProviderError(ErrorKind.BAD_REQUEST, message, hint, code=1201, http_status=400)


class DraftProvider:
    """Local renders standing in for Kling. See the module docstring for the contract."""

    name = "draft"

    def __init__(self, paths: Paths | None = None, *, concurrency: int = 2,
                 presets: PresetLibrary | None = None, render_delay: float = 0.0,
                 encoder_preset: str = "veryfast", short_side: int | None = None) -> None:
        self.paths = paths or Paths.resolve()
        self.limits = InputLimits()  # Kling's, so fit and conform run as in production
        self.capabilities = Capabilities(operations=frozenset(Operation), paid=False,
                                         draft=True, native_audio=True)
        self.root = self.paths.cache_dir / "draft"
        self._presets = presets
        self._concurrency = concurrency
        self._sem: asyncio.Semaphore | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._render_delay = render_delay  # tests: hold tasks in "processing" for a while
        self._x264 = encoder_preset
        # tests: frames this many pixels on the short side whatever resolution is asked
        # (None: Kling's sizes), so suites that check chains, not sizes, render small
        self._short = short_side
        self._swept = False

    # --- the port: free checks -------------------------------------------------------

    def _library(self) -> PresetLibrary:
        return self._presets or load_presets(self.paths.presets_dir)

    def validate(self, request: TaskRequest) -> None:
        """Kling's documented rules that a draft can check too, so drafts fail like Kling."""
        lim = self.limits
        if len(request.prompt) > lim.prompt_max_chars:
            raise _bad(f"prompt is {len(request.prompt)} characters; at most "
                       f"{lim.prompt_max_chars}", "shorten the prompt")
        if request.resolution not in self.capabilities.resolutions:
            raise _bad(f"resolution {request.resolution} is not offered")
        if request.aspect_ratio and request.aspect_ratio not in self.capabilities.aspect_ratios:
            raise _bad(f"aspect ratio {request.aspect_ratio} is not one of "
                       f"{', '.join(self.capabilities.aspect_ratios)}")
        op = request.operation
        if op is Operation.EDIT:
            self._validate_edit(request)
        elif op in (Operation.TEXT_TO_VIDEO, Operation.IMAGE_TO_VIDEO):
            self._validate_generation(request)
        else:
            self._validate_lipsync(request)

    def _need_file(self, path: Path | None, what: str) -> Path:
        if path is None:
            raise _bad(f"{what} is missing")
        if not path.is_file():
            raise _bad(f"{what} {path} does not exist", "check the path")
        return path

    def _validate_edit(self, r: TaskRequest) -> None:
        self._need_file(r.video, "the clip to restyle")
        d = r.video_duration
        if d is not None and not (self.limits.video_min_seconds <= d
                                  <= self.limits.video_max_seconds):
            raise _bad(f"clip is {d:.2f} s; edits take {self.limits.video_min_seconds}-"
                       f"{self.limits.video_max_seconds} s",
                       "the media pipeline fits clips before sending")
        if r.audio_mode is AudioMode.NATIVE:
            raise _bad("an edit keeps or drops the clip's sound; native audio is not offered",
                       "use audio 'original' or 'off'")
        if r.shots:
            raise _bad("an edit of a clip has no shots")
        if r.preset:
            try:
                self._library().get(r.preset)
            except MediaError as exc:
                raise _bad(exc.message, exc.hint) from None

    def _validate_generation(self, r: TaskRequest) -> None:
        lim = self.limits
        if r.operation is Operation.IMAGE_TO_VIDEO:
            self._need_file(r.image, "the first-frame image")
            if r.end_image is not None:
                self._need_file(r.end_image, "the last-frame image")
        elif not r.prompt.strip() and not r.shots:
            raise _bad("text to video needs a prompt", "describe the shot")
        if r.audio_mode is AudioMode.ORIGINAL:
            raise _bad("a generation has no original sound", "use audio 'native' or 'off'")
        if r.feature_video is not None:
            self._need_file(r.feature_video, "the reference clip")
            if r.audio_mode is not AudioMode.OFF:
                raise _bad("a generation with a reference clip is silent (as on Kling)",
                           "turn the audio off")
        for still in (*r.refer_images, *r.element_stills):
            self._need_file(still, "the character still")
        if r.shots:
            if not 1 <= len(r.shots) <= lim.max_shots:
                raise _bad(f"{len(r.shots)} shots; 1 to {lim.max_shots} are allowed")
            for n, shot in enumerate(r.shots, 1):
                if shot.duration < 1:
                    raise _bad(f"shot {n} lasts {shot.duration} s; each shot needs at least 1 s")
                if len(shot.prompt) > lim.shot_prompt_max_chars:
                    raise _bad(f"shot {n}'s words are over {lim.shot_prompt_max_chars} chars")
            total = sum(s.duration for s in r.shots)
            if r.duration is not None and total != r.duration:
                raise _bad(f"shots last {total} s but the duration is {r.duration} s",
                           "make the shot durations add up to the total")
        else:
            total = r.duration if r.duration is not None else 5
        if not lim.generate_min_seconds <= total <= lim.generate_max_seconds:
            raise _bad(f"duration {total} s; {lim.generate_min_seconds}-"
                       f"{lim.generate_max_seconds} s are allowed")

    def _validate_lipsync(self, r: TaskRequest) -> None:
        self._need_file(r.audio, "the dialogue audio")
        if r.image is None and r.video is None:
            raise _bad("lip-sync needs a face: a video or an image")
        self._need_file(r.video or r.image, "the face video" if r.video else "the face image")
        if r.audio_range is not None:
            start, end = r.audio_range
            length = end - start
            lim = self.limits
            if start < 0 or not lim.lipsync_audio_min_seconds <= length \
                    <= lim.lipsync_audio_max_seconds:
                raise _bad(f"dialogue range {start:.2f}-{end:.2f} s; lip-sync takes "
                           f"{lim.lipsync_audio_min_seconds:g}-{lim.lipsync_audio_max_seconds:g} s")

    def estimate(self, request: TaskRequest) -> Cost:
        return ZERO

    # --- task records ------------------------------------------------------------------

    def _status_path(self, task_id: str) -> Path:
        return self.root / "tasks" / f"{task_id}.json"

    def _key_path(self, external_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in external_id)[:120]
        return self.root / "keys" / f"{safe}.json"

    def _write_json(self, path: Path, data: dict[str, Any]) -> None:
        write_text(path, json.dumps(data))

    def _read_json(self, path: Path) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data

    def _update(self, task_id: str, **changes: Any) -> dict[str, Any]:
        record = self._read_json(self._status_path(task_id)) or {}
        record.update(changes, update_time=time.time())
        self._write_json(self._status_path(task_id), record)
        return record

    def _status_of(self, record: dict[str, Any]) -> TaskStatus:
        phase = TaskPhase(record["phase"])
        outputs: tuple[TaskOutput, ...] = ()
        if phase is TaskPhase.SUCCEEDED and record.get("output"):
            outputs = (TaskOutput(url=Path(record["output"]).as_uri(),
                                  output_id=f"{record['task_id']}-0",
                                  duration=record.get("duration"), kind="video"),)
        return TaskStatus(record["task_id"], record.get("external_id"), phase,
                          message=record.get("message", ""), outputs=outputs, billed=ZERO)

    # --- the port: tasks ---------------------------------------------------------------

    async def submit(self, request: TaskRequest, external_id: str) -> str:
        """Free. Records the task, starts rendering in the background, answers at once."""
        self.validate(request)
        if not self._swept:
            self._swept = True
            await asyncio.to_thread(self.sweep)
        key = self._key_path(external_id)
        if key.exists():
            raise ProviderError(ErrorKind.DUPLICATE, "external_task_id already used",
                                "look the task up by its key instead", code=1201,
                                http_status=400, maybe_created=True)
        task_id = f"draft-{secrets.token_hex(8)}"
        now = time.time()
        self._write_json(self._status_path(task_id), {
            "task_id": task_id, "external_id": external_id, "phase": "submitted",
            "message": "", "create_time": now, "update_time": now,
            "request": request_to_dict(request), "output": None, "duration": None,
        })
        self._write_json(key, {"task_id": task_id, "external_id": external_id})
        self._start(task_id)
        return task_id

    def locate(self, request: TaskRequest) -> str:
        return "draft"  # one local store of tasks

    async def lookup(self, external_ids: Sequence[str], where: str = ""
                     ) -> dict[str, TaskStatus]:
        found: dict[str, TaskStatus] = {}
        for ext in external_ids:
            ref = self._read_json(self._key_path(ext))
            if ref and ref.get("external_id") == ext:
                status = self._current(ref["task_id"])
                if status is not None:
                    found[ext] = status
        return found

    async def poll(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        out: dict[str, TaskStatus] = {}
        for task_id in task_ids:
            status = self._current(task_id)
            if status is not None:
                out[task_id] = status
        return out

    def _current(self, task_id: str) -> TaskStatus | None:
        record = self._read_json(self._status_path(task_id))
        if record is None:
            return None
        if record["phase"] in ("submitted", "processing") and task_id not in self._running:
            # Left unfinished by an earlier process: render it again (it is free).
            log.info("draft task %s was interrupted; rendering it again", task_id)
            self._start(task_id)
        return self._status_of(record)

    async def fetch(self, output: TaskOutput, dest: Path) -> Path:
        parsed = urlparse(output.url)
        src = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(output.url)
        if not src.is_file():
            raise ProviderError(ErrorKind.NOT_FOUND, f"draft output {src} is gone",
                                "retry the job; drafts are rendered again for free")
        await asyncio.to_thread(link_or_copy, src, dest)
        return dest

    def sweep(self, older_than: float = KEEP_SECONDS) -> int:
        """Remove task records, keys and outputs older than ``older_than`` seconds."""
        return sum(remove_older(self.root / folder, older_than)
                   for folder in ("tasks", "keys", "outputs"))

    async def forget(self, external_id: str) -> None:
        """Nothing to release: draft inputs never leave this machine."""

    async def check(self) -> Reachability:
        try:
            ffmpeg_bin()
        except MediaError as exc:
            return Reachability(False, exc.problem, exc.hint)
        return Reachability(True, "draft provider: local ffmpeg renders, offline and free")

    async def aclose(self) -> None:
        tasks = list(self._running.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        self._running.clear()

    # --- rendering ---------------------------------------------------------------------

    def _start(self, task_id: str) -> None:
        if task_id in self._running:
            return
        task = asyncio.get_running_loop().create_task(self._run(task_id),
                                                      name=f"draft-render-{task_id}")
        self._running[task_id] = task
        task.add_done_callback(lambda _t: self._running.pop(task_id, None))

    async def _run(self, task_id: str) -> None:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._concurrency)
        async with self._sem:
            record = self._read_json(self._status_path(task_id))
            if record is None:
                return
            self._update(task_id, phase="processing")
            if self._render_delay:
                await asyncio.sleep(self._render_delay)
            request = request_from_dict(record["request"])
            dest = self.root / "outputs" / f"{task_id}.mp4"
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                await self._render(request, dest, task_id)
                info = await asyncio.to_thread(probe, dest)
                seconds = info.video.duration if info.video else info.duration
                self._update(task_id, phase="succeeded", output=str(dest),
                             duration=round(seconds, 3), message="")
            except (MediaError, ProviderError, OSError, ValueError) as exc:
                log.warning("draft task %s failed: %s", task_id, exc)
                self._update(task_id, phase="failed", message=f"draft render failed: {exc}")
            except Exception as exc:  # a bug: fail the task once, visibly
                # (left "processing", every poll would start the render again, forever)
                log.exception("draft task %s crashed", task_id)
                self._update(task_id, phase="failed", message="draft render failed (a bug in "
                             f"kling-bridge; the log has details): {exc!r}")

    async def _render(self, r: TaskRequest, dest: Path, task_id: str) -> None:
        tag = f"{drafts.DRAFT_TAG} ({r.operation.value}{', ' + r.preset if r.preset else ''}; " \
              f"task {task_id})"
        if r.operation is not Operation.EDIT and (r.feature_video or r.refer_images
                                                   or r.element_stills or r.reference_image):
            await self._render_referenced(r, dest, tag)
            return
        await self._render_plain(r, dest, tag)

    async def _render_referenced(self, r: TaskRequest, dest: Path, tag: str) -> None:
        """A generation given references: its base (the reference clip's look, a move over
        its last frame, or the plain slate / Ken Burns) then the band and the insets."""
        seconds = float(sum(s.duration for s in r.shots) or r.duration or 5)
        base = dest.with_name(f".{dest.stem}.base.mp4")
        textfile = dest.with_name(f".{dest.stem}.band.txt")
        try:
            if r.feature_video is not None and r.feature_mode == "next_shot":
                width, height = await self._picture_size(r.feature_video, r.resolution.value)
                still = await asyncio.to_thread(_last_frame, r.feature_video,
                                                dest.with_name(f".{dest.stem}.last.png"))
                try:
                    await drafts.render(drafts.kenburns_command(
                        base, still, seconds=[seconds], width=width, height=height,
                        end_image=None, audio=False, seed=r.seed, comment=tag,
                        preset=self._x264), base, subject=r.feature_video,
                        what="rendering a draft next shot")
                finally:
                    still.unlink(missing_ok=True)
                kind = "next shot"
            elif r.feature_video is None and r.reference_image is not None:
                width, height = await self._picture_size(r.reference_image, r.resolution.value)
                await drafts.render(drafts.kenburns_command(
                    base, r.reference_image, seconds=[seconds], width=width, height=height,
                    end_image=None, audio=False, seed=r.seed, comment=tag,
                    preset=self._x264), base, subject=r.reference_image,
                    what="rendering a draft in the reference's look")
                kind = "more like this"
            elif r.feature_video is not None:
                width, height = drafts.output_size(r.resolution.value,
                                                   drafts.aspect_of(r.aspect_ratio or "16:9"),
                                                   self._short)
                await drafts.render(draft_refs.style_base_command(
                    base, r.feature_video, seconds=seconds, width=width, height=height,
                    comment=tag, preset=self._x264), base, subject=r.feature_video,
                    what="rendering a draft in the reference's look")
                kind = "more like this"
            else:
                plain = replace(r, refer_images=(), element_stills=(), elements=(),
                                reference_image=None)
                await self._render_plain(plain, base, tag)
                info = await asyncio.to_thread(probe, base)
                assert info.video is not None
                width, height = info.video.width, info.video.height
                kind = "character"
            names = ", ".join(n for n in dict.fromkeys(r.labels) if n)
            if names:
                kind += f" · {names}"
            textfile.write_text(draft_refs.band_text(kind, r.prompt, width, height),
                                encoding="utf-8")
            stills = [*r.refer_images, *r.element_stills]
            labels = [*r.labels, *[""] * len(stills)]
            native = kind.startswith("character") and r.audio_mode is AudioMode.NATIVE
            await drafts.render(draft_refs.overlay_command(
                base, dest, stills=list(zip(stills, labels[:len(stills)], strict=True)),
                textfile=textfile, width=width, height=height, comment=tag, audio=native,
                preset=self._x264), dest, subject=r.feature_video or r.reference_image or base,
                what="rendering a draft with references")
        finally:
            base.unlink(missing_ok=True)
            textfile.unlink(missing_ok=True)

    async def _render_plain(self, r: TaskRequest, dest: Path, tag: str) -> None:
        if r.operation is Operation.EDIT:
            assert r.video is not None
            preset = self._library().get(r.preset) if r.preset else None
            graph = draft_graph(preset, seed=r.seed, words=None if preset else r.prompt)
            await drafts.render(drafts.edit_command(
                r.video, dest, graph, resolution=r.resolution.value,
                keep_audio=r.audio_mode is AudioMode.ORIGINAL, comment=tag,
                preset=self._x264, short=self._short), dest,
                subject=r.video, what="rendering a draft restyle")
            return
        native = r.audio_mode is AudioMode.NATIVE
        seconds = [float(s.duration) for s in r.shots] or [float(r.duration or 5)]
        if r.operation is Operation.TEXT_TO_VIDEO:
            width, height = drafts.output_size(r.resolution.value,
                                               drafts.aspect_of(r.aspect_ratio or "16:9"),
                                               self._short)
            texts = [s.prompt for s in r.shots] or [r.prompt]
            shots = [drafts.SlateShot(t, s) for t, s in zip(texts, seconds, strict=True)]
            await drafts.render_slates(dest, shots, width=width, height=height, audio=native,
                                       seed=r.seed, comment=tag, preset=self._x264)
            return
        if r.operation is Operation.IMAGE_TO_VIDEO:
            assert r.image is not None
            width, height = await self._picture_size(r.image, r.resolution.value)
            await drafts.render(drafts.kenburns_command(
                dest, r.image, seconds=seconds, width=width, height=height,
                end_image=r.end_image, audio=native, seed=r.seed, comment=tag,
                preset=self._x264), dest,
                subject=r.image, what="rendering a draft image-to-video")
            return
        # lip-sync
        assert r.audio is not None
        picture = r.video or r.image
        assert picture is not None
        if r.audio_range is not None:
            start, end = r.audio_range
        else:
            ainfo = await asyncio.to_thread(probe, r.audio, require_video=False)
            start, end = 0.0, ainfo.duration
        width, height = await self._picture_size(picture, r.resolution.value)
        await drafts.render(drafts.lipsync_command(
            dest, picture=picture, picture_is_video=r.video is not None, audio=r.audio,
            start=start, end=end, width=width, height=height, comment=tag,
            preset=self._x264), dest,
            subject=picture, what="rendering a draft lip-sync")

    async def _picture_size(self, picture: Path, resolution: str) -> tuple[int, int]:
        """Kling lets the reference picture decide the aspect (within 1:2.5 to 2.5:1)."""
        info = await asyncio.to_thread(probe, picture)
        v = info.video
        assert v is not None
        aspect = Fraction(v.display_width, v.display_height)
        aspect = min(max(aspect, Fraction(2, 5)), Fraction(5, 2))
        return drafts.output_size(resolution, aspect, self._short)


def _last_frame(video: Path, dest: Path) -> Path:
    """The reference clip's last frame: where its next shot starts."""
    from ..media.pictures import grab_frame

    info = probe(video)
    assert info.video is not None
    return grab_frame(video, max(0, info.video.frame_count - 1), dest)
