"""KlingProvider: the Provider port over Kling's two API standards.

The credential picks the standard (an API key -> new; an access key pair -> legacy);
lip-sync exists only on the legacy tree and goes there with either credential. The engine
sees neither: it gets task ids (legacy ones carry their endpoint, see ``legacy.task_ref``),
statuses normalised to :class:`TaskStatus`, and :class:`ProviderError` kinds.

Inputs: videos must be URLs, so they are published on the configured media host under the
task's external id and released once the task is seen finished (or refused for good);
images small enough go inline as base64 and need no host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ParamSpec, TypeVar

from ...config import KlingSettings, Paths, Settings
from ...credentials import KlingCredential
from ...hosting import HostingError, MediaHost, build_media_host
from ...media.errors import MediaError
from ...media.facts import header_facts
from ...media.headers import MediaFacts
from ..base import (
    Capabilities,
    Cost,
    ErrorKind,
    Operation,
    ProviderError,
    Reachability,
    TaskOutput,
    TaskRequest,
    TaskStatus,
)
from . import legacy, pricing, rules, standard
from .auth import Auth, auth_for
from .client import KlingClient
from .errors import bad_request
from .prep import b64, sound_clip, still_video
from .wire import Inputs

log = logging.getLogger("kling_bridge.providers.kling")
P = ParamSpec("P")
T = TypeVar("T")

#: Ends of a task that can never need its hosted inputs again.
_FINAL_REFUSALS = frozenset({ErrorKind.BAD_REQUEST, ErrorKind.POLICY, ErrorKind.QUOTA,
                             ErrorKind.AUTH, ErrorKind.PERMISSION, ErrorKind.NOT_FOUND})
_QUERY_CONCURRENCY = 4
#: ``Provider.locate`` answers: which tree a task was created on.
NEW, LEGACY = "new:", "legacy:"
#: Kling's "not found" codes for a task query (kling-api.md, errors: 404 1202 / 1203).
NOT_FOUND_CODES = frozenset({1202, 1203})


class KlingProvider:
    name = "kling"

    def __init__(
        self,
        credential: KlingCredential,
        *,
        settings: KlingSettings | None = None,
        host: MediaHost | None = None,
        scratch_dir: Path,
        auth: Auth | None = None,
        client: KlingClient | None = None,
    ) -> None:
        self.settings = settings or KlingSettings()
        self.credential = credential
        self._auth = auth or auth_for(credential)
        if credential.kind == "access_key":
            self.standard = "legacy"  # new-standard endpoints refuse access-key tokens
        else:
            self.standard = "legacy" if self.settings.standard == "legacy" else "new"
        self.client = client or KlingClient(
            self.settings.base_url,
            self._auth,
            secrets=credential.secrets(),
            timeout=self.settings.request_timeout_seconds,
            download_timeout=self.settings.download_timeout_seconds,
        )
        self.host = host
        self.scratch = scratch_dir
        self.table = pricing.load_table()
        self.limits = rules.limits_for(self.standard, "kling-3.0")
        self.capabilities = Capabilities(operations=frozenset(Operation), paid=True)
        self._sessions: dict[str, tuple[str, str, float]] = {}  # ext id -> session, face, exp
        self._started = False

    def __repr__(self) -> str:
        return f"KlingProvider({self.client.base_url!r}, {self.standard} standard)"

    # ------------------------------------------------------------------ free, local

    def _facts(self, request: TaskRequest) -> dict[Path, MediaFacts]:
        facts: dict[Path, MediaFacts] = {}
        for path in (request.video, request.image, request.end_image, request.reference_image,
                     request.audio, request.feature_video, *request.refer_images):
            if path is None or path in facts or not path.exists():
                continue
            try:
                facts[path] = header_facts(path)
            except MediaError as exc:
                raise bad_request(f"'{path.name}' is not readable media ({exc.problem})",
                                  hint=exc.hint or "check that the file plays") from None
        return facts

    def _needs_host(self, request: TaskRequest) -> bool:
        if request.operation in (Operation.EDIT, Operation.LIPSYNC):
            return True
        if request.feature_video is not None:
            return True
        limit = self.settings.inline_image_max_bytes
        return any(p is not None and p.exists() and p.stat().st_size > limit
                   for p in (request.image, request.end_image, request.reference_image,
                             *request.refer_images))

    def as_sent(self, request: TaskRequest) -> TaskRequest:
        """The request as this standard takes it: the legacy standard documents no element
        input, so a character registered with an element id goes as its stills."""
        if self.standard == "legacy" and request.elements:
            return replace(request, elements=(),
                           refer_images=(*request.refer_images, *request.element_stills))
        return request

    def validate(self, request: TaskRequest) -> None:
        request = self.as_sent(request)
        rules.check(request, self.standard, self._facts(request))
        if self.host is None and self._needs_host(request):
            raise bad_request(
                "Kling fetches input clips by URL, and no media host is configured",
                hint="set --media-host s3://bucket/prefix (S3, R2, B2, MinIO) or "
                "--media-host https://your-tunnel.example/ (signed links served by the bridge)",
            )
        self.estimate(request)

    def estimate(self, request: TaskRequest) -> Cost:
        if (request.operation is Operation.EDIT and request.video_duration is None
                and request.video is not None and request.video.exists()):
            with contextlib.suppress(MediaError):
                request = replace(request, video_duration=header_facts(request.video).duration)
        if (request.operation is Operation.LIPSYNC and request.audio_range is None
                and request.audio is not None and request.audio.exists()):
            with contextlib.suppress(MediaError):
                request = replace(request, audio_range=(0.0, header_facts(request.audio).duration))
        return pricing.estimate(request, self.table)

    # ------------------------------------------------------------------ paid

    async def _ensure_started(self) -> None:
        if not self._started and self.host is not None:
            try:
                await self.host.start()
            except HostingError as exc:
                raise ProviderError(ErrorKind.CONNECTION, exc.message, hint=exc.hint) from None
        self._started = True

    async def _publish(self, path: Path, external_id: str) -> str:
        if self.host is None:
            raise bad_request("No media host is configured",
                              hint="set --media-host s3://bucket/prefix or https://public/")
        try:
            return await self.host.publish(path, external_id)
        except HostingError as exc:
            raise ProviderError(ErrorKind.CONNECTION, exc.message, hint=exc.hint) from None

    async def _image(self, path: Path | None, external_id: str) -> str | None:
        if path is None:
            return None
        if path.stat().st_size <= self.settings.inline_image_max_bytes:
            return await asyncio.to_thread(b64, path)
        return await self._publish(path, external_id)

    async def _inputs(self, request: TaskRequest, external_id: str) -> Inputs:
        video = (await self._publish(request.video, external_id)
                 if request.video is not None and request.operation is Operation.EDIT else None)
        feature = (await self._publish(request.feature_video, external_id)
                   if request.feature_video is not None else None)
        stills = [await self._image(p, external_id) for p in request.refer_images]
        return Inputs(
            video=video,
            image=await self._image(request.image, external_id),
            end_image=await self._image(request.end_image, external_id),
            reference_image=await self._image(request.reference_image, external_id),
            feature_video=feature,
            refer_images=tuple(s for s in stills if s),
        )

    async def submit(self, request: TaskRequest, external_id: str) -> str:
        """PAID. Never retried here: every failure goes back to the engine, which looks the
        task up by ``external_id`` before anything is sent again."""
        await self._ensure_started()
        request = self.as_sent(request)
        rules.check(request, self.standard, self._facts(request))
        try:
            if request.operation is Operation.LIPSYNC:
                return await self._submit_lipsync(request, external_id)
            inputs = await self._inputs(request, external_id)
            callback = self.settings.callback_url
            if self.standard == "new":
                path, body = standard.build_create(request, external_id, inputs, callback)
                data = await self.client.call("POST", path, body=body, creating=True)
                return _parsed(standard.parse_created, data)
            path, body = legacy.build_create(request, external_id, inputs, callback)
            data = await self.client.call("POST", path, body=body, creating=True)
            return _parsed(legacy.parse_created, data, legacy.endpoint_for(request))
        except ProviderError as err:
            if err.kind in _FINAL_REFUSALS and not err.maybe_created:
                await self._release(external_id)
            raise

    async def _submit_lipsync(self, request: TaskRequest, external_id: str) -> str:
        assert request.audio is not None
        work = self.scratch / _safe(external_id)
        start, end = request.audio_range or (0.0, header_facts(request.audio).duration)
        sound = await sound_clip(request.audio, start, end, work / "sound.m4a")
        video = request.video
        if video is None:
            assert request.image is not None
            video = await still_video(request.image, max(end - start, 2.0) + 0.5,
                                      work / "face.mp4")
        session = self._sessions.get(external_id)
        if session is None or session[2] < time.time():
            url = await self._publish(video, external_id)
            path, body = legacy.build_identify_face(url)
            data = await self.client.call("POST", path, body=body)
            session_id, faces = _parsed(legacy.parse_identify_face, data)
            if not faces:
                raise bad_request(f"Kling found no face in '{video.name}'",
                                  hint="pick a clip or still where the speaker's face is visible")
            session = (session_id, faces[0], time.time() + 23 * 3600)
            self._sessions[external_id] = session
        path, body = legacy.build_lipsync(
            session_id=session[0], face_id=session[1], sound=await asyncio.to_thread(b64, sound),
            sound_seconds=end - start, external_id=external_id,
            callback_url=self.settings.callback_url,
        )
        data = await self.client.call("POST", path, body=body, creating=True)
        return _parsed(legacy.parse_created, data, legacy.LIPSYNC)

    # ------------------------------------------------------------------ free queries

    def locate(self, request: TaskRequest) -> str:
        """Where the task will live: ``new:<create path>`` (found with ``GET /tasks``) or
        ``legacy:<endpoint>`` (found only on that endpoint). Lip-sync is always legacy."""
        if self.standard == "new" and request.operation is not Operation.LIPSYNC:
            return f"{NEW}{standard.create_path(request)}"
        return f"{LEGACY}{legacy.endpoint_for(request)}"

    async def lookup(self, external_ids: Sequence[str], where: str = ""
                     ) -> dict[str, TaskStatus]:
        """Find tasks by idempotency key where they were created (``where``, from
        :meth:`locate`; empty for tasks recorded before it existed: every tree of the
        credential's standard). Only a well-formed answer of Kling proves a key absent
        (``data: []``, or a 1202/1203 "not found" on the task's own legacy endpoint);
        anything else raises."""
        await self._ensure_started()
        wanted = list(dict.fromkeys(external_ids))
        found: dict[str, TaskStatus] = {}
        if where.startswith(NEW):
            found.update(await self._new_lookup(wanted))
        elif where.startswith(LEGACY) and where[len(LEGACY):] in legacy.TASK_ENDPOINTS:
            found.update(await self._legacy_lookup(wanted, (where[len(LEGACY):],)))
        elif self.standard == "new":
            found.update(await self._new_lookup(wanted))
            # Lip-sync tasks live on the legacy tree even with an API key.
            rest = [e for e in wanted if e not in found]
            found.update(await self._legacy_lookup(rest, (legacy.LIPSYNC,)))
        else:
            found.update(await self._legacy_lookup(wanted, legacy.TASK_ENDPOINTS))
        await self._release_done(found.values())
        return found

    async def _new_lookup(self, wanted: Sequence[str]) -> dict[str, TaskStatus]:
        found: dict[str, TaskStatus] = {}
        for params in standard.query_batches(wanted, by_external=True):
            for status in await self._query_new(params):
                ext = status.external_id
                if ext is not None and ext in wanted:
                    found[ext] = status
        return found

    async def poll(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        await self._ensure_started()
        ids = list(dict.fromkeys(task_ids))
        refs = [i for i in ids if legacy.is_ref(i)]
        plain = [i for i in ids if not legacy.is_ref(i)]
        sem = asyncio.Semaphore(_QUERY_CONCURRENCY)

        async def batch(params: dict[str, str]) -> list[TaskStatus]:
            async with sem:
                return await self._query_new(params)

        async def one(ref: str) -> TaskStatus | None:
            endpoint, task_id = legacy.split_ref(ref)
            async with sem:
                return await self._query_legacy(endpoint, task_id)

        batches = await asyncio.gather(
            *(batch(p) for p in standard.query_batches(plain, by_external=False))
        )
        singles = await asyncio.gather(*(one(r) for r in refs))
        out = {s.task_id: s for group in batches for s in group}
        out.update({s.task_id: s for s in singles if s is not None})
        await self._release_done(out.values())
        return out

    async def _query_new(self, params: dict[str, str]) -> list[TaskStatus]:
        data = await self.client.call("GET", "/tasks", params=params)
        if not isinstance(data, list):
            raise ProviderError(ErrorKind.SERVER, "Kling's task query answer has no task list",
                                hint="retried automatically")
        return [_parsed(standard.parse_task, item) for item in data]

    async def _query_legacy(self, endpoint: str, ident: str) -> TaskStatus | None:
        try:
            data = await self.client.call("GET", legacy.query_path(endpoint, ident))
        except ProviderError as err:
            # Kling's own "not found" on the endpoint that would hold the task (1202 unknown
            # task, 1203 unknown resource -- both answered by the legacy query): absence.
            if err.code in NOT_FOUND_CODES:
                return None
            raise
        if not isinstance(data, dict):
            raise ProviderError(ErrorKind.SERVER, "Kling's task answer is empty",
                                hint="retried automatically")
        return _parsed(legacy.parse_task, data, endpoint)

    async def _legacy_lookup(self, ids: Sequence[str], endpoints: Sequence[str]
                             ) -> dict[str, TaskStatus]:
        sem = asyncio.Semaphore(_QUERY_CONCURRENCY)

        async def find(ext: str) -> tuple[str, TaskStatus | None]:
            for endpoint in endpoints:
                async with sem:
                    status = await self._query_legacy(endpoint, ext)
                if status is not None:
                    return ext, status
            return ext, None

        results = await asyncio.gather(*(find(e) for e in ids))
        return {ext: status for ext, status in results if status is not None}

    async def fetch(self, output: TaskOutput, dest: Path) -> Path:
        """Download now: Kling deletes results after 30 days."""
        return await self.client.download(output.url, dest)

    async def check(self) -> Reachability:
        now_ms = int(time.time() * 1000)
        params = {"start_time": str(now_ms - 86_400_000), "end_time": str(now_ms)}
        where = f"{self.client.base_url} ({self.standard} standard, {self._auth.kind})"
        try:
            data = await self.client.call("GET", "/account/costs", params=params)
        except ProviderError as err:
            if err.kind is ErrorKind.RATE_LIMIT:
                return Reachability(True, f"Kling reachable at {where}")
            return Reachability(False, f"{err.message} at {where}", err.hint)
        packs = (data or {}).get("resource_pack_subscribe_infos") or []
        left = sum(float(p.get("remaining_quantity") or 0) for p in packs
                   if isinstance(p, dict) and p.get("status", "online") == "online")
        detail = f"Kling reachable at {where}"
        if packs:
            detail += f"; {left:g} units left in resource packs (may lag up to 12 h)"
        return Reachability(True, detail)

    # ------------------------------------------------------------------ hosting life

    async def _release(self, external_id: str | None) -> None:
        if self.host is None or not external_id:
            return
        try:
            await self.host.release(external_id)
        except Exception as exc:  # never let cleanup break a poll; the link expires anyway
            log.warning("could not release hosted media of %s: %s", external_id, exc)

    async def _release_done(self, statuses: Iterable[TaskStatus]) -> None:
        for status in list(statuses):
            if status.done:
                self._sessions.pop(status.external_id or "", None)
                await self._release(status.external_id)

    async def forget(self, external_id: str) -> None:
        """The engine stopped tracking this task (cancel): unpublish its inputs now."""
        self._sessions.pop(external_id, None)
        await self._release(external_id)

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.host is not None:
            await self.host.aclose()


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text) or "task"


def _parsed(parse: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a parser on an answer; a malformed success answer is a server fault (and a create
    that answered oddly may still have happened: the engine looks it up)."""
    try:
        return parse(*args, **kwargs)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProviderError(
            ErrorKind.SERVER,
            f"Kling sent an answer this bridge cannot read ({exc})",
            hint="the task is looked up by its id; if this persists, the API changed",
            maybe_created=True,
        ) from None


def build_kling_provider(settings: Settings, credential: KlingCredential, paths: Paths
                         ) -> KlingProvider:
    """The provider the daemon and CLI use: hosting from settings, scratch under the cache."""
    try:
        host = build_media_host(settings.hosting, paths)
    except HostingError as exc:
        raise ProviderError(ErrorKind.BAD_REQUEST, exc.message, hint=exc.hint) from None
    return KlingProvider(credential, settings=settings.kling, host=host,
                         scratch_dir=paths.cache_dir / "kling")
