"""A Kling API emulator: both standards, both auth schemes, real media, injectable faults.

It follows /shared/kling-api.md, quirks included (``succeed``, string durations,
``data: []`` for unknown ids, 1201 for a reused ``external_task_id``, "SUCCEED" in the
envelope of a failed legacy task). Two listeners on 127.0.0.1: the API, and a "CDN" that the
API's signed result URLs redirect to under another host name (``localhost``) and port, so a
client that forwards its ``Authorization`` header is caught (``auth_on_results``).

Knobs: constructor arguments, ``POST /_emulator/config``, ``POST /_emulator/faults``; what it
saw: ``GET /_emulator/stats``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp import web

from . import answers, media, validation
from .state import Account, Fault, KlingError, Session, Stats, Task, bad, new_id

RESULT_TTL = 30 * 24 * 3600
_HTTP_FOR_CODE = {1000: 401, 1001: 401, 1002: 401, 1003: 401, 1004: 401, 1100: 429, 1101: 429,
                  1102: 429, 1103: 403, 1202: 404, 1203: 404, 1302: 429, 1303: 429, 1304: 429,
                  5000: 500, 5001: 503, 5002: 504}


class _Dropped(Exception):
    """The handler closed the connection on purpose (fault injection)."""


class KlingEmulator:
    def __init__(
        self,
        accounts: list[Account] | None = None,
        *,
        submitted_seconds: float = 0.2,
        processing_seconds: float = 0.5,
        output_height: int = 180,
        port: int = 0,
        cdn_port: int = 0,
        workdir: Path | None = None,
        render_concurrency: int = 2,
        not_found_code: int = 1202,
    ) -> None:
        self.accounts = accounts or [Account()]
        self.submitted_seconds = submitted_seconds
        self.processing_seconds = processing_seconds
        self.output_height = output_height
        # A legacy query for a task Kling does not have answers 404 with 1202 or 1203
        # (kling-api.md lists both as "unknown resource"); which one is a knob.
        self.not_found_code = not_found_code
        self.port = port
        self.cdn_port = cdn_port
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="kling-emu-"))
        self.tasks: dict[str, Task] = {}
        self.by_external: dict[tuple[str, str], Task] = {}
        self.sessions: dict[str, Session] = {}
        self.faults: list[Fault] = []
        self.stats = Stats()
        self._secret = secrets.token_bytes(16)
        self._render_sem = asyncio.Semaphore(render_concurrency)
        self._runners: list[web.AppRunner] = []
        self.servers: dict[str, web.Server] = {}  # "host:port" -> the app's HTTP server
        self._http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def account(self) -> Account:
        return self.accounts[0]

    async def start(self, *, in_process: bool = False) -> KlingEmulator:
        """Serve on loopback ports; or, ``in_process``, open no socket at all: the apps'
        servers are left in :attr:`servers` (by ``host:port``) for an in-process connector
        (:class:`tests.kling_emulator.inprocess.AppConnector`)."""
        api = web.Application(middlewares=[self._middleware], client_max_size=64 * 2**20)
        api.add_routes([
            web.post("/omni-video/{model}", self._new_create),
            web.post("/text-to-video/{model}", self._new_create),
            web.post("/image-to-video/{model}", self._new_create),
            web.get("/tasks", self._new_query),
            web.post("/tasks", self._new_list),
            web.post("/v1/videos/identify-face", self._identify_face),
            web.post("/v1/videos/advanced-lip-sync", self._lipsync_create),
            web.post("/v1/videos/{endpoint}", self._legacy_create),
            web.get("/v1/videos/{endpoint}/{id}", self._legacy_query),
            web.get("/account/costs", self._costs),
            web.get("/results/{task}/{file}", self._result),
            web.post("/_emulator/faults", self._admin_faults),
            web.post("/_emulator/config", self._admin_config),
            web.get("/_emulator/stats", self._admin_stats),
        ])
        cdn = web.Application()
        cdn.add_routes([web.get("/cdn/{task}/{file}", self._cdn)])
        for app, attr in ((api, "port"), (cdn, "cdn_port")):
            runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                   shutdown_timeout=0.5)
            await runner.setup()
            self._runners.append(runner)
            if in_process:  # made-up ports: only the connector's table knows them
                setattr(self, attr, getattr(self, attr) or (49001 if attr == "port" else 49002))
            else:
                site = web.TCPSite(runner, "127.0.0.1", getattr(self, attr))
                await site.start()
                setattr(self, attr, int(runner.addresses[0][1]))
            assert runner.server is not None
            host = "127.0.0.1" if attr == "port" else "localhost"  # the CDN's other name
            self.servers[f"{host}:{getattr(self, attr)}"] = runner.server
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def stop(self) -> None:
        for task in self.tasks.values():
            if task.job and not task.job.done():
                task.job.cancel()
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        if self._http:
            await self._http.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> KlingEmulator:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(("/_emulator", "/results")):
            body: Any = None
            if request.can_read_body:
                with contextlib.suppress(Exception):
                    body = _shorten(await request.json())
            self.stats.requests.append({"method": request.method, "path": request.path,
                                        "query": dict(request.query), "body": body})
        try:
            return await handler(request)
        except KlingError as exc:
            return answers.error(exc)
        except _Dropped:
            return web.Response(status=500)  # never reaches the client: transport is closed

    def take_fault(self, on: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.on in (on, "any") and fault.path_contains in path:
                fault.count -= 1
                return fault
        return None

    @staticmethod
    def _drop(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.close()
        raise _Dropped()

    def _auth(self, request: web.Request, *, api_key_only: bool) -> Account:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            self.stats.auth_failures[1001] += 1
            raise KlingError(401, 1001, "Authorization is empty")
        token = header[7:].strip()
        account: Account | None
        for account in self.accounts:
            if account.api_key and hmac.compare_digest(token, account.api_key):
                return account
        try:
            head = jwt.get_unverified_header(token)
            iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            self.stats.auth_failures[1002] += 1
            raise KlingError(401, 1002, "Authorization is invalid") from None
        account = next((a for a in self.accounts if a.access_key and a.access_key == iss), None)
        if account is None or head != {"alg": "HS256", "typ": "JWT"}:
            self.stats.auth_failures[1002] += 1
            raise KlingError(401, 1002, "Authorization is invalid")
        if api_key_only:
            self.stats.auth_failures[1002] += 1
            raise KlingError(401, 1002, "this endpoint accepts only an API key")
        try:
            jwt.decode(token, account.secret_key or "", algorithms=["HS256"],
                       options={"require": ["iss", "exp", "nbf"]})
        except jwt.ExpiredSignatureError:
            self.stats.auth_failures[1004] += 1
            raise KlingError(401, 1004, "Authorization token has expired") from None
        except jwt.ImmatureSignatureError:
            self.stats.auth_failures[1003] += 1
            raise KlingError(401, 1003, "Authorization token is not yet valid") from None
        except jwt.PyJWTError:
            self.stats.auth_failures[1002] += 1
            raise KlingError(401, 1002, "Authorization is invalid") from None
        return account

    def _pre_fault(self, request: web.Request, on: str) -> Fault | None:
        fault = self.take_fault(on, request.path)
        if fault is None:
            return None
        if fault.action == "error":
            raise KlingError(_HTTP_FOR_CODE.get(fault.code, 400), fault.code,
                             fault.message or f"injected error {fault.code}")
        if fault.action == "drop":
            self._drop(request)
        return fault

    async def fetch(self, ref: str, what: str, url_only: bool) -> tuple[Path, media.Probe]:
        """Get an input as Kling does (see :meth:`get_input`), then ffprobe it."""
        dest = await self.get_input(ref, what, url_only)
        probe = await media.probe(dest)
        if probe is None:
            raise bad(f"the {what} is not readable media")
        return dest, probe

    async def get_input(self, ref: str, what: str, url_only: bool) -> Path:
        """GET a URL (sending no credentials), or decode raw base64."""
        dest = self.workdir / "inputs" / new_id()
        dest.parent.mkdir(parents=True, exist_ok=True)
        if ref.startswith(("http://", "https://")):
            assert self._http is not None
            try:
                async with self._http.get(ref) as resp:
                    if resp.status != 200:
                        raise bad(f"could not fetch the {what} url (HTTP {resp.status})")
                    with dest.open("wb") as fh:
                        async for chunk in resp.content.iter_chunked(1 << 16):
                            fh.write(chunk)
            except aiohttp.ClientError as exc:
                raise bad(f"could not fetch the {what} url ({type(exc).__name__})") from None
        elif url_only:
            raise bad(f"the {what} must be given as a URL")
        else:
            try:
                dest.write_bytes(base64.b64decode(ref, validate=True))
            except (binascii.Error, ValueError):
                raise bad(f"the {what} is neither a URL nor valid base64") from None
        return dest

    def _sign(self, text: str, exp: int) -> str:
        return hmac.new(self._secret, f"{text}|{exp}".encode(), hashlib.sha256).hexdigest()[:32]

    def result_url(self, task: Task, oid: str) -> str:
        exp = int(task.created) + RESULT_TTL
        sig = self._sign(f"{task.id}/{oid}", exp)
        return f"{self.base_url}/results/{task.id}/{oid}.mp4?expires={exp}&signature={sig}"

    # ------------------------------------------------------------------ creating tasks

    async def _create(self, request: web.Request, account: Account, standard: str,
                      endpoint: str, external_id: Any,
                      make_plan: Callable[[validation.Fetch], Awaitable[validation.Plan]]
                      ) -> Task:
        received = time.time()
        ext = external_id if isinstance(external_id, str) and external_id else None
        if ext:
            self.stats.creates_attempted[ext] += 1
        fault = self._pre_fault(request, "create")
        if ext and (account.name, ext) in self.by_external:
            raise bad(f"external_task_id already exists: {ext}")
        seen: list[dict[str, Any]] = []

        async def fetch(ref: str, what: str, url_only: bool) -> tuple[Path, media.Probe]:
            path, probe = await self.fetch(ref, what, url_only)
            seen.append({"what": what, **probe.facts()})
            return path, probe

        plan = await make_plan(fetch)
        now = time.time()
        active = sum(1 for t in self.tasks.values()
                     if t.account is account and t.phase(now) in ("submitted", "processing"))
        if active >= account.concurrency:
            raise KlingError(429, 1303, "parallel task count exceeds the resource pack limit")
        if account.balance_units is not None and account.balance_units < plan.units:
            raise KlingError(429, 1102, "resource pack exhausted or expired")
        if ext and (account.name, ext) in self.by_external:  # raced while fetching inputs
            raise bad(f"external_task_id already exists: {ext}")
        task = Task(id=new_id(), account=account, external_id=ext, standard=standard,
                    endpoint=endpoint, units=plan.units, render=plan.render,
                    submitted_seconds=self.submitted_seconds,
                    processing_seconds=self.processing_seconds, inputs=seen,
                    received=received)
        if account.balance_units is not None:
            account.balance_units = round(account.balance_units - plan.units, 4)
        self.tasks[task.id] = task
        if ext:
            self.by_external[(account.name, ext)] = task
            self.stats.tasks_created[ext] += 1
        if fault is not None and fault.action == "slow":
            task.processing_seconds = fault.seconds
        if fault is not None and fault.action == "fail_task":
            task.fail_message = fault.message or "Failure to pass the risk control system"
            self._refund(task)
        else:
            task.job = asyncio.create_task(self._render(task))
        if fault is not None and fault.action == "error_after_create":
            code = fault.code or 5000
            raise KlingError(_HTTP_FOR_CODE.get(code, 500), code, fault.message or "internal error")
        if fault is not None and fault.action == "drop_after_create":
            self._drop(request)
        if fault is not None and fault.action == "hold_after_create":
            await asyncio.sleep(fault.seconds)
        return task

    def _refund(self, task: Task) -> None:
        if task.charged and task.account.balance_units is not None:
            task.account.balance_units = round(task.account.balance_units + task.units, 4)
        task.charged = False

    async def _render(self, task: Task) -> None:
        out = self.workdir / "results" / task.id / f"{new_id()}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            async with self._render_sem:
                seconds = await media.render(task.render, out, self.output_height)
            task.outputs.append((out.stem, out, seconds))
        except Exception as exc:  # a broken render is a failed task, as on Kling
            task.render_error = f"internal error while generating ({str(exc)[:120]})"
            self._refund(task)
        task.rendered_at = time.time()

    async def _new_create(self, request: web.Request) -> web.Response:
        account = self._auth(request, api_key_only=True)
        kind = request.path.split("/")[1]
        model = request.match_info["model"]
        body = await _json(request)
        if "callback_url" in body:
            self.stats.ignored_top_level_callback += 1  # silently ignored (observed)
        options = body.get("options")
        if not isinstance(options, dict):
            options = {}
        def plan(fetch: validation.Fetch) -> Awaitable[validation.Plan]:
            return validation.check_new(kind, model, body, fetch, account.elements)

        task = await self._create(request, account, "new", request.path, options.get(
            "external_task_id"), plan)
        return answers.envelope(answers.new_created(task))

    async def _legacy_create(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        if endpoint not in validation.LEGACY_MODELS:
            raise KlingError(404, 1202, f"unknown endpoint {endpoint}")
        account = self._auth(request, api_key_only=False)
        body = await _json(request)
        def plan(fetch: validation.Fetch) -> Awaitable[validation.Plan]:
            return validation.check_legacy(endpoint, body, fetch)

        task = await self._create(request, account, "legacy", endpoint,
                                  body.get("external_task_id"), plan)
        return answers.envelope(answers.legacy_created(task))

    async def _identify_face(self, request: web.Request) -> web.Response:
        account = self._auth(request, api_key_only=False)
        self._pre_fault(request, "identify")
        body = await _json(request)
        url = body.get("video_url")
        if body.get("video_id"):
            found = next((t for t in self.tasks.values() if t.account is account
                          for oid, _, _ in t.outputs if oid == body["video_id"]), None)
            if found is None:
                raise bad("video_id not found")
            url = self.result_url(found, str(body["video_id"]))
        if not isinstance(url, str) or not url:
            raise bad("video_url or video_id is required")
        path, probe = await self.fetch(url, "video", True)
        if not probe.has_video or not ("mp4" in probe.format_name or "mov" in probe.format_name):
            raise bad("video must be mp4 or mov")
        session = Session(id=new_id(), account=account, video=path,
                          video_seconds=probe.duration, faces=["0"],
                          expires=time.time() + 24 * 3600,
                          detection_units=validation.FACE_DETECTION_UNITS)
        self.sessions[session.id] = session
        dur = int(probe.duration * 1000)
        return answers.envelope({"session_id": session.id, "final_unit_deduction": "0.05",
                                 "face_data": [{"face_id": "0", "face_image": "",
                                                "start_time": 0, "end_time": dur}]})

    async def _lipsync_create(self, request: web.Request) -> web.Response:
        account = self._auth(request, api_key_only=False)
        body = await _json(request)
        session = self.sessions.get(str(body.get("session_id")))
        if session is None or session.account is not account or session.expires < time.time():
            raise bad("session_id is invalid or expired")
        def plan(fetch: validation.Fetch) -> Awaitable[validation.Plan]:
            return validation.check_lipsync(body, session, fetch)

        task = await self._create(request, account, "legacy", "advanced-lip-sync",
                                  body.get("external_task_id"), plan)
        session.used = True
        return answers.envelope(answers.legacy_created(task))

    # ------------------------------------------------------------------ queries

    async def _new_query(self, request: web.Request) -> web.Response:
        account = self._auth(request, api_key_only=True)
        self._pre_fault(request, "query")
        self.stats.queries += 1
        by_id, by_ext = request.query.get("task_ids"), request.query.get("external_task_ids")
        if by_id is not None and by_ext is not None:
            raise bad("use task_ids or external_task_ids, not both")
        if by_id is None and by_ext is None:
            raise bad("task_ids or external_task_ids is required")
        ids = [i for i in (by_id if by_id is not None else by_ext or "").split(",") if i]
        if len(ids) > 20:
            raise bad("at most 20 ids per query")
        self.stats.max_ids_per_query = max(self.stats.max_ids_per_query, len(ids))
        now = time.time()
        found = []
        for i in ids:
            task = (self.tasks.get(i) if by_id is not None
                    else self.by_external.get((account.name, i)))
            if task is not None and task.account is account and task.standard == "new":
                found.append(answers.new_item(task, now, self.result_url))
        return answers.envelope(found)

    async def _new_list(self, request: web.Request) -> web.Response:
        account = self._auth(request, api_key_only=True)
        body = await _json(request)
        limit = int(body.get("limit", 100))
        if not 1 <= limit <= 500:
            raise bad("limit must be 1 to 500")
        start = int(body.get("start_time", 0)) / 1000
        end = int(body.get("end_time", 2**62)) / 1000
        cursor = int(body.get("cursor") or 0)
        now = time.time()
        mine = [t for t in self.tasks.values() if t.account is account and t.standard == "new"
                and start <= t.created <= end]
        page = mine[cursor:cursor + limit]
        more = cursor + limit < len(mine)
        return answers.envelope({"result": [answers.new_item(t, now, self.result_url)
                                            for t in page], "count": len(page),
                                 "next_cursor": str(cursor + limit) if more else "",
                                 "has_more": more})

    async def _legacy_query(self, request: web.Request) -> web.Response:
        account = self._auth(request, api_key_only=False)
        self._pre_fault(request, "query")
        self.stats.queries += 1
        endpoint, ident = request.match_info["endpoint"], request.match_info["id"]
        task = self.tasks.get(ident) or self.by_external.get((account.name, ident))
        if (task is None or task.account is not account or task.standard != "legacy"
                or task.endpoint != endpoint):
            raise KlingError(404, self.not_found_code, "task not found")
        # Quirk: the envelope says SUCCEED whatever the task's fate.
        return answers.envelope(answers.legacy_data(task, time.time(), self.result_url),
                                message="SUCCEED")

    async def _costs(self, request: web.Request) -> web.Response:
        account = self._auth(request, api_key_only=False)
        if "start_time" not in request.query or "end_time" not in request.query:
            raise bad("start_time and end_time are required")
        now = time.time()
        if now - account.last_costs_call < 1.0:
            raise KlingError(429, 1302, "too many requests: at most one a second")
        account.last_costs_call = now
        remaining = account.balance_units if account.balance_units is not None else 1e6
        return answers.envelope({"code": 0, "msg": "", "resource_pack_subscribe_infos": [{
            "resource_pack_name": "emulator pack", "resource_pack_id": account.name,
            "resource_pack_type": "decreasing_total", "total_quantity": 1e6,
            "remaining_quantity": remaining, "status": "online"}]})

    # ------------------------------------------------------------------ results

    def _saw_auth(self, request: web.Request) -> bool:
        if "Authorization" in request.headers:
            self.stats.auth_on_results += 1
            return True
        return False

    async def _result(self, request: web.Request) -> web.StreamResponse:
        if self._saw_auth(request):
            return web.Response(status=403, text="credentials must not be sent here")
        task_id, name = request.match_info["task"], request.match_info["file"]
        oid = name.removesuffix(".mp4")
        try:
            exp = int(request.query.get("expires", "0"))
        except ValueError:
            exp = 0
        sig = request.query.get("signature", "")
        if exp < time.time() or not hmac.compare_digest(sig, self._sign(f"{task_id}/{oid}", exp)):
            return web.Response(status=403, text="expired or bad signature")
        token = self._sign(f"cdn/{task_id}/{oid}", exp)
        location = (f"http://localhost:{self.cdn_port}/cdn/{task_id}/{name}"
                    f"?expires={exp}&token={token}")
        raise web.HTTPFound(location)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        if self._saw_auth(request):
            return web.Response(status=403, text="credentials must not be sent here")
        task_id, name = request.match_info["task"], request.match_info["file"]
        oid = name.removesuffix(".mp4")
        exp = int(request.query.get("expires", "0") or 0)
        if not hmac.compare_digest(request.query.get("token", ""),
                                   self._sign(f"cdn/{task_id}/{oid}", exp)):
            return web.Response(status=403)
        task = self.tasks.get(task_id)
        path = next((p for o, p, _ in (task.outputs if task else []) if o == oid), None)
        if path is None:
            return web.Response(status=404)
        self.stats.downloads += 1
        fault = self.take_fault("download", request.path)
        if fault is not None and fault.action == "truncate":
            return await _truncated(request, path, fault.bytes)
        return web.FileResponse(path)

    # ------------------------------------------------------------------ admin

    async def _admin_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("replace"):
            self.faults.clear()
        self.faults.extend(Fault.from_dict(f) for f in body.get("faults", []))
        return web.json_response({"faults": len(self.faults)})

    async def _admin_config(self, request: web.Request) -> web.Response:
        body = await request.json()
        for key in ("submitted_seconds", "processing_seconds", "output_height",
                    "not_found_code"):
            if key in body:
                setattr(self, key, type(getattr(self, key))(body[key]))
        for key in ("balance_units", "concurrency"):
            if key in body:
                setattr(self.account, key, body[key])
        return web.json_response({"ok": True})

    async def _admin_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.as_dict(list(self.tasks.values())))

    def add_fault(self, **kwargs: Any) -> Fault:
        fault = Fault(**kwargs)
        self.faults.append(fault)
        return fault


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise bad("body must be JSON", 1200) from None
    if not isinstance(body, dict):
        raise bad("body must be a JSON object", 1200)
    return body


def _shorten(value: Any) -> Any:
    """Requests are recorded for tests; base64 blobs are cut short."""
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    if isinstance(value, str) and len(value) > 300:
        return value[:120] + f"...<{len(value)} chars>"
    return value


async def _truncated(request: web.Request, path: Path, limit: int) -> web.StreamResponse:
    """Announce the whole (ranged) body, send only part of it, drop the connection."""
    data = path.read_bytes()
    start = 0
    rng = request.headers.get("Range", "")
    if rng.startswith("bytes="):
        start = int(rng[6:].split("-")[0] or 0)
    body = data[start:]
    status = 206 if start else 200
    headers = {"Content-Type": "video/mp4", "Accept-Ranges": "bytes",
               "Content-Length": str(len(body))}
    if start:
        headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
    resp = web.StreamResponse(status=status, headers=headers)
    await resp.prepare(request)
    await resp.write(body[: limit or len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return resp
