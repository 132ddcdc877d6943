"""The media pipeline: the free work before and after a job's provider tasks.

``prepare`` turns a spec into provider requests; ``finish`` turns the downloaded answers
into the editor's deliverables. Both may run again after a crash -- in another process --
so everything they decide is written to the job's workdir (the fit plan above all, so a
finish conforms exactly what was sent) and everything they deliver is written to a temp
name and renamed. Media problems surface as :class:`PipelineError` with the file named.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..atomic import link_or_copy, write_text
from ..config import Paths
from ..media import pictures
from ..media.conform import ConformOptions, GeneratedTarget, aconform, aconform_generated
from ..media.errors import MediaError, RangeOutsideMedia
from ..media.extract import adetect_scene_cuts, aextract, segment_path
from ..media.fit import FitPlan, plan_fit, scene_windows
from ..media.fit_cache import FitCache, fit_key
from ..media.presets import PresetLibrary, kling_prompt, load_presets, look_words
from ..media.probe import MediaInfo, probe, require_motion_video
from ..providers.base import AudioMode, Operation, Resolution, TaskRequest
from ..specs import (
    GenerateSpec,
    InputLimits,
    JobResult,
    LipsyncSpec,
    OutputFile,
    RestyleSpec,
    SourceRange,
    parse_rate,
    rate_str,
)
from .pipeline import JobContext, PipelineError

#: Seconds of a reference clip sent as Kling's ``feature_video`` (within its 3-15.5 s).
FEATURE_SECONDS = 10
PLAN_FILE = "plan.json"
RESULT_FILE = "result.json"
NAME_FILE = "name.json"


def _pipeline_error(exc: MediaError) -> PipelineError:
    return PipelineError(exc.message, exc.hint, exc.code)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def _safe_name(text: str, limit: int = 60) -> str:
    """A file-name-safe rendering of an editor's clip name (accents kept, slashes not)."""
    cleaned = re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", "_", text).strip(" ._")
    return cleaned[:limit] or "clip"


_MEDIA_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mxf", ".avi", ".mkv", ".webm", ".mts",
                             ".m2ts", ".mpg", ".mpeg", ".r3d", ".braw", ".dnxhd", ".ts"})


def _without_media_suffix(name: str) -> str:
    """Premiere and Final Cut name clips after their files (``source.mp4``): drop that."""
    path = Path(name)
    return path.stem if path.suffix.lower() in _MEDIA_SUFFIXES and path.stem else name


def _job_tag(job_id: str) -> str:
    """The part of a job id that tells jobs apart: its random tail. (Its first characters
    are a timestamp, the same for every job of a batch -- the cause of restyled clips
    overwriting each other.)"""
    return job_id[-8:]


def output_base(ctx: JobContext, readable: str, draft: bool) -> str:
    """The file name stem of a job's outputs: ``readable`` (source, look, variant, range),
    the job's own tag, and ``draft`` for drafts. Chosen once and kept in the job's workdir,
    so a finish run again after a crash writes the same files; a stem some other job's
    files already use (an astronomically unlikely clash of tags) gets a number, so nothing
    is ever written over."""
    stored = _read_json(ctx.workdir / NAME_FILE)
    if stored is not None and isinstance(stored.get("base"), str):
        return str(stored["base"])
    wanted = f"{readable}.{_job_tag(ctx.job_id)}" + (".draft" if draft else "")
    base, n = wanted, 2
    while any(ctx.outputs_dir.glob(f"{glob.escape(base)}.*")):
        base, n = f"{wanted}-{n}", n + 1
    _write_json(ctx.workdir / NAME_FILE, {"base": base})
    return base


def _output_file(path: Path, role: str, info: MediaInfo | None, draft: bool) -> OutputFile:
    if info is None or info.video is None:
        return OutputFile(str(path), role, draft=draft)
    v = info.video
    return OutputFile(str(path), role, frames=v.frame_count, rate=rate_str(v.rate),
                      width=v.frame_width, height=v.frame_height,
                      has_audio=info.audio is not None, draft=draft)


class MediaPipeline:
    """Implements :class:`~.pipeline.Pipeline` for restyle, generate and lip-sync jobs."""

    def __init__(self, paths: Paths | None = None, *, preset: str = "veryfast", crf: int = 17,
                 conform: ConformOptions | None = None,
                 presets: PresetLibrary | None = None) -> None:
        self.paths = paths or Paths.resolve()
        self.encode_preset = preset
        self.crf = crf
        self.conform_options = conform or ConformOptions()
        self._presets = presets
        self.fits = FitCache(self.paths.cache_dir / "fits")

    def _library(self) -> PresetLibrary:
        return self._presets or load_presets(self.paths.presets_dir)

    # --- the port ----------------------------------------------------------------------

    async def prepare(self, ctx: JobContext) -> Sequence[TaskRequest]:
        try:
            spec = ctx.spec
            if isinstance(spec, RestyleSpec):
                return await self._prepare_restyle(ctx, spec)
            if isinstance(spec, GenerateSpec):
                return [await self._prepare_generate(ctx, spec)]
            return [await self._prepare_lipsync(ctx, spec)]
        except MediaError as exc:
            raise _pipeline_error(exc) from None

    async def finish(self, ctx: JobContext, fetched: Sequence[Sequence[Path]]) -> JobResult:
        done = _read_json(ctx.workdir / RESULT_FILE)
        if done is not None:
            result = JobResult.from_dict(done)
            if all(Path(o.path).exists() for o in result.outputs):
                return result  # finished before a crash: nothing to redo
        try:
            if isinstance(ctx.spec, RestyleSpec):
                result = await self._finish_restyle(ctx, ctx.spec, fetched)
            else:
                result = await self._finish_generated(ctx, fetched)
        except MediaError as exc:
            raise _pipeline_error(exc) from None
        _write_json(ctx.workdir / RESULT_FILE, result.to_dict())
        return result

    # --- restyle -----------------------------------------------------------------------

    def _plan_key(self, spec: RestyleSpec, limits: InputLimits) -> str:
        blob = json.dumps([asdict(spec), asdict(limits), self.encode_preset, self.crf],
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def _restyle_plan(self, ctx: JobContext, spec: RestyleSpec) -> FitPlan:
        """The stored plan if this spec made it; else a new one (stale segments removed)."""
        limits = ctx.provider.limits
        key = self._plan_key(spec, limits)
        stored = _read_json(ctx.workdir / PLAN_FILE)
        if stored is not None and stored.get("key") == key:
            return FitPlan.from_dict(stored["plan"])
        for old in ctx.workdir.glob("segment_*.mp4"):
            old.unlink()
        info = await asyncio.to_thread(probe, spec.source.path)
        require_motion_video(info)
        options: dict[str, Any] = {"resolution": spec.resolution, "keep_audio": spec.keep_audio,
                                   "crf": self.crf, "preset": self.encode_preset}
        plan = plan_fit(spec.source, info, limits, **options)
        if len(plan.segments) > 1:
            cuts = await self._scene_cuts(plan, info)
            if cuts:
                plan = plan_fit(spec.source, info, limits, scene_cuts=cuts, **options)
        _write_json(ctx.workdir / PLAN_FILE, {"key": key, "plan": plan.to_dict()})
        return plan

    async def _scene_cuts(self, plan: FitPlan, info: MediaInfo) -> tuple[int, ...]:
        """Where shots change inside a range split into segments (a decode of the range):
        found once per fit, the next look of the clip reads them (:mod:`..media.fit_cache`;
        the plan before its cuts names the range, the limits and the source file)."""
        key = await asyncio.to_thread(fit_key, plan)
        kept = await asyncio.to_thread(self.fits.scene_cuts, key) if key else None
        if kept is not None:
            return kept
        cuts: tuple[int, ...] = ()
        for lo, hi in scene_windows(plan.window_frames, len(plan.segments)):
            cuts += await adetect_scene_cuts(info, plan.window_start + lo, hi - lo, plan.rate)
        if key:
            await asyncio.to_thread(self.fits.keep_scene_cuts, key, cuts)
        return cuts

    def _look(self, spec: RestyleSpec) -> tuple[str, str | None]:
        preset = self._library().get(spec.look.preset) if spec.look.preset else None
        if preset is None and not (spec.look.prompt and spec.look.prompt.strip()):
            raise PipelineError("the restyle has no look: neither a preset nor words",
                                "choose a preset (e.g. film-noir) or describe the look",
                                code="bad_request")
        return kling_prompt(preset, spec.look.prompt), preset.id if preset else None

    def _look_words(self, spec: RestyleSpec) -> str:
        """The look in words for new footage in it (a chain's B-roll follows them)."""
        try:
            preset = self._library().get(spec.look.preset) if spec.look.preset else None
        except MediaError:
            preset = None
        return look_words(preset, spec.look.prompt) or spec.look.label

    def _prompt_for_record(self, spec: RestyleSpec) -> str:
        """The prompt as sent -- or the editor's words if the preset vanished since."""
        try:
            return self._look(spec)[0]
        except (PipelineError, MediaError):
            return spec.look.prompt or spec.look.label

    async def _prepare_restyle(self, ctx: JobContext, spec: RestyleSpec) -> list[TaskRequest]:
        prompt, preset_id = self._look(spec)
        try:
            resolution = Resolution(spec.resolution.lower())
        except ValueError:
            raise PipelineError(f"resolution {spec.resolution!r} is not offered",
                                "use 720p, 1080p or 4k", code="bad_request") from None
        plan = await self._restyle_plan(ctx, spec)
        files = await self._segments(plan, ctx.workdir)
        reference = Path(spec.reference_image) if spec.reference_image else None
        if reference is not None:
            reference = await asyncio.to_thread(pictures.fit_image, reference, ctx.workdir)
        audio = AudioMode.ORIGINAL if plan.encode.audio else AudioMode.OFF
        return [
            TaskRequest(
                operation=Operation.EDIT, model=spec.model, prompt=prompt, preset=preset_id,
                video=path, video_duration=round(seg.seconds(plan.fit_rate), 3),
                reference_image=reference, resolution=resolution, audio_mode=audio,
                seed=spec.variant,
            )
            for seg, path in zip(plan.segments, files, strict=True)
        ]

    async def _segments(self, plan: FitPlan, workdir: Path) -> list[Path]:
        """The plan's segments in the job's folder: an earlier job's with the same fit (the
        next look of a clip: :mod:`..media.fit_cache`), else cut now and kept."""
        dests = [segment_path(plan, seg, workdir) for seg in plan.segments]
        key = await asyncio.to_thread(fit_key, plan)
        if key is not None and await asyncio.to_thread(self.fits.take, key, dests):
            return dests
        files = await aextract(plan, workdir)
        if key is not None:
            await asyncio.to_thread(self.fits.keep, key, files)
        return files

    def _answers(self, fetched: Sequence[Sequence[Path]], count: int) -> list[Path]:
        if len(fetched) != count or any(not f for f in fetched):
            raise PipelineError(f"expected {count} provider answers, got "
                                f"{sum(1 for f in fetched if f)}",
                                "retry the job to download the answers again (no new charge)",
                                code="missing_output")
        answers = [Path(f[0]) for f in fetched]
        for n, a in enumerate(answers):
            try:
                require_motion_video(probe(a))
            except MediaError as exc:
                raise PipelineError(f"the provider's answer for part {n + 1} is unusable: "
                                    f"{exc.message}", "retry the job to download it again",
                                    code="bad_output") from None
        return answers

    async def _finish_restyle(self, ctx: JobContext, spec: RestyleSpec,
                              fetched: Sequence[Sequence[Path]]) -> JobResult:
        stored = _read_json(ctx.workdir / PLAN_FILE)
        if stored is None:
            raise PipelineError("the fit plan of this job is missing from its work folder",
                                "retry the job from the start", code="missing_plan")
        plan = FitPlan.from_dict(stored["plan"])
        answers = await asyncio.to_thread(self._answers, fetched, len(plan.segments))
        draft = ctx.provider.capabilities.draft
        look = spec.look.label
        name = spec.clip.name if spec.clip and spec.clip.name else Path(spec.source.path).stem
        first = spec.source.start_frame
        last = first + spec.source.frame_count - 1
        base = output_base(ctx, f"{_safe_name(_without_media_suffix(name))}."
                                f"{_safe_name(look, 30)}.v{spec.variant + 1}.f{first}-{last}",
                           draft)
        video = ctx.outputs_dir / f"{base}.mov"
        comment = (f"kling-bridge {'draft ' if draft else ''}restyle ({look}) of "
                   f"{Path(spec.source.path).name} frames {spec.source.start_frame}-"
                   f"{spec.source.start_frame + spec.source.frame_count - 1}")
        options = ConformOptions(self.conform_options.crf, self.conform_options.preset, comment,
                                 draft_mark=draft)
        await aconform(plan, answers, video, options)
        sheet = await pictures.acontact_sheet(spec.source.path, spec.source.start_frame,
                                              spec.source.frame_count, video,
                                              ctx.outputs_dir / f"{base}.before-after.png")
        thumb = await pictures.athumbnail(video, ctx.outputs_dir / f"{base}.thumb.jpg")
        info = await asyncio.to_thread(probe, video)
        outputs = (_output_file(video, "video", info, draft),
                   OutputFile(str(sheet), "contact_sheet", draft=draft),
                   OutputFile(str(thumb), "thumbnail", draft=draft))
        meta: dict[str, Any] = {
            "draft": draft, "provider": ctx.provider.name, "kind": "restyle", "look": look,
            "preset": spec.look.preset, "prompt": self._prompt_for_record(spec),
            "look_words": self._look_words(spec),
            "variant": spec.variant,
            "source": spec.source.path, "start_frame": spec.source.start_frame,
            "frame_count": spec.source.frame_count, "rate": spec.source.rate,
            "timecode": plan.target.timecode, "segments": len(plan.segments),
            "fit_notes": list(plan.notes),
        }
        if spec.clip is not None:
            meta["clip_id"] = spec.clip.clip_id
        return JobResult(outputs, meta)

    # --- generate and lip-sync ----------------------------------------------------------

    async def _reference(self, ctx: JobContext, path: str | None, frame: int | None,
                         ) -> Path | None:
        if path is None:
            return None
        lim = ctx.provider.limits
        return await asyncio.to_thread(
            pictures.fit_image, path, ctx.workdir, frame=frame, side_min=lim.image_side_min,
            aspect_min=lim.image_aspect_min, aspect_max=lim.image_aspect_max,
            max_bytes=lim.image_max_bytes)

    async def _prepare_generate(self, ctx: JobContext, spec: GenerateSpec) -> TaskRequest:
        image = await self._reference(ctx, spec.image, None)  # a video gives its frame 0
        end_image = await self._reference(ctx, spec.end_image, None)
        if image is None and end_image is not None:
            raise PipelineError("a last frame was given without a first frame",
                                "give a first-frame image too", code="bad_request")
        try:
            resolution = Resolution(spec.resolution.lower())
        except ValueError:
            raise PipelineError(f"resolution {spec.resolution!r} is not offered",
                                "use 720p, 1080p or 4k", code="bad_request") from None
        duration = sum(s.duration for s in spec.shots) if spec.shots else spec.duration
        feature, feature_seconds = await self._feature(ctx, spec, resolution)
        style = await self._reference(ctx, spec.style_image,
                                      await self._middle_frame(spec.style_image))
        stills = [await self._reference(ctx, p, None) for p in spec.refer_images]
        element_stills = [await self._reference(ctx, p, None) for p in spec.element_stills]
        return TaskRequest(
            operation=Operation.IMAGE_TO_VIDEO if image else Operation.TEXT_TO_VIDEO,
            model=spec.model, prompt=spec.prompt, negative_prompt=spec.negative_prompt,
            image=image, end_image=end_image, shots=tuple(spec.shots), duration=duration,
            resolution=resolution, aspect_ratio=None if image else spec.aspect_ratio,
            audio_mode=AudioMode.NATIVE if spec.audio else AudioMode.OFF, seed=spec.variant,
            reference_image=style, feature_video=feature, feature_seconds=feature_seconds,
            feature_mode=spec.feature_mode, refer_images=tuple(p for p in stills if p),
            elements=tuple(spec.elements),
            element_stills=tuple(p for p in element_stills if p),
            labels=tuple(spec.still_labels),
        )

    async def _middle_frame(self, path: str | None) -> int | None:
        if path is None:
            return None
        info = await asyncio.to_thread(probe, path)
        if info.is_still or info.video is None:
            return None
        return info.video.frame_count // 2

    async def _feature(self, ctx: JobContext, spec: GenerateSpec, resolution: Resolution
                       ) -> tuple[Path | None, float | None]:
        """The reference clip fitted into the provider's limits (one segment): the first
        seconds of it for a look to follow, the last ones for a shot to continue."""
        if spec.feature_video is None:
            return None, None
        info = await asyncio.to_thread(probe, spec.feature_video)
        video = require_motion_video(info)
        lim = ctx.provider.limits
        total = video.frame_count
        start = min(max(0, spec.feature_start), total - 1)
        count = total - start if spec.feature_frames is None else min(spec.feature_frames,
                                                                      total - start)
        most = int(FEATURE_SECONDS * video.rate)
        if count > most:  # a style needs its opening, a next shot the end it continues
            start = start if spec.feature_mode != "next_shot" else start + count - most
            count = most
        rate = rate_str(video.rate)
        source = SourceRange(spec.feature_video, start, count, rate,
                             handle_before=start, handle_after=total - start - count)
        plan = plan_fit(source, info, lim, resolution=resolution.value, keep_audio=False,
                        crf=self.crf, preset=self.encode_preset)
        folder = ctx.workdir / "feature"
        folder.mkdir(parents=True, exist_ok=True)
        files = await aextract(plan, folder)
        return files[0], round(plan.segments[0].seconds(plan.fit_rate), 3)

    async def _prepare_lipsync(self, ctx: JobContext, spec: LipsyncSpec) -> TaskRequest:
        audio = await asyncio.to_thread(probe, spec.audio, require_video=False)
        if audio.audio is None:
            raise PipelineError(f"{spec.audio}: holds no audio", "pick the dialogue clip",
                                code="not_audio")
        length = audio.audio.duration or audio.duration
        end = spec.audio_end if spec.audio_end is not None else length
        if spec.audio_start < 0 or end <= spec.audio_start or end > length + 0.05:
            raise _pipeline_error(RangeOutsideMedia(
                spec.audio, f"dialogue range {spec.audio_start:.2f}-{end:.2f} s is outside the "
                f"audio (0-{length:.2f} s)", "choose a range inside the clip"))
        if (spec.video is None) == (spec.image is None):
            raise PipelineError("lip-sync needs exactly one face: a video or an image",
                                "give a clip or a still of the face", code="bad_request")
        video = image = None
        if spec.video is not None:
            require_motion_video(await asyncio.to_thread(probe, spec.video))
            video = Path(spec.video)
        else:
            image = await self._reference(ctx, spec.image, None)
        try:
            resolution = Resolution(spec.resolution.lower())
        except ValueError:
            raise PipelineError(f"resolution {spec.resolution!r} is not offered",
                                "use 720p, 1080p or 4k", code="bad_request") from None
        return TaskRequest(operation=Operation.LIPSYNC, model="kling-lipsync", video=video,
                           image=image, audio=Path(spec.audio),
                           audio_range=(float(spec.audio_start), float(min(end, length))),
                           resolution=resolution)

    async def _finish_generated(self, ctx: JobContext,
                                fetched: Sequence[Sequence[Path]]) -> JobResult:
        spec = ctx.spec
        assert isinstance(spec, GenerateSpec | LipsyncSpec)
        (answer,) = await asyncio.to_thread(self._answers, fetched, 1)
        draft = ctx.provider.capabilities.draft
        info = await asyncio.to_thread(probe, answer)
        kind = ctx.kind
        if isinstance(spec, GenerateSpec):
            words = spec.prompt or (spec.shots[0].prompt if spec.shots else "image")
            what = kind
            if spec.feature_video or spec.style_image:
                what = "next-shot" if spec.feature_mode == "next_shot" else "more-like-this"
            base = output_base(ctx, f"{what}.{_safe_name(words, 40)}.v{spec.variant + 1}", draft)
        else:
            base = output_base(ctx, f"{kind}.{_safe_name(Path(spec.audio).stem, 40)}", draft)
        target = spec.conform
        if target is not None:
            video = ctx.outputs_dir / f"{base}.mov"
            v = info.video
            assert v is not None
            comment = f"kling-bridge {'draft ' if draft else ''}{kind}, conformed"
            await aconform_generated(
                answer, video,
                GeneratedTarget(parse_rate(target.rate), target.width, target.height,
                                target.frames),
                src_seconds=v.duration, has_audio=info.audio is not None,
                options=ConformOptions(self.conform_options.crf, self.conform_options.preset,
                                       comment))
            info = await asyncio.to_thread(probe, video)
        else:
            video = ctx.outputs_dir / f"{base}{answer.suffix or '.mp4'}"
            await asyncio.to_thread(link_or_copy, answer, video)
        poster = await pictures.aposter_frame(video, ctx.outputs_dir / f"{base}.poster.png")
        thumb = await pictures.athumbnail(video, ctx.outputs_dir / f"{base}.thumb.jpg")
        outputs = (_output_file(video, "video", info, draft),
                   OutputFile(str(poster), "poster", draft=draft),
                   OutputFile(str(thumb), "thumbnail", draft=draft))
        meta: dict[str, Any] = {"draft": draft, "provider": ctx.provider.name, "kind": kind}
        if isinstance(spec, GenerateSpec):
            meta |= {"prompt": spec.prompt, "shots": [asdict(s) for s in spec.shots],
                     "duration": spec.duration, "variant": spec.variant,
                     "aspect_ratio": spec.aspect_ratio}
            if spec.feature_video or spec.style_image:
                meta["reference"] = {"clip": spec.feature_video or spec.style_image,
                                     "mode": spec.feature_mode,
                                     "as": "video" if spec.feature_video else "frame"}
            if spec.characters:
                meta["characters"] = list(spec.characters)
        else:
            meta |= {"audio": spec.audio, "audio_start": spec.audio_start,
                     "audio_end": spec.audio_end}
        if target is not None:
            meta["conformed_to"] = {"rate": target.rate, "width": target.width,
                                    "height": target.height}
            if target.frames is not None:
                meta["conformed_to"]["frames"] = target.frames
        if info.video is not None:
            meta["seconds"] = float(Fraction(info.video.frame_count) / info.video.rate)
        return JobResult(outputs, meta)
