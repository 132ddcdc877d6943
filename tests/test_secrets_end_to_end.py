"""The Kling secret, end to end through a real daemon: it is used, and it is nowhere else.

The daemon loads the API key from the environment (as a user's script would set it), talks
to the Kling emulator with it at DEBUG logging, succeeds one job and fails another with a
Kling error; then every log line, every byte of the job database, every API answer and every
error message is searched for the key (and its URL-encoded form).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kling_bridge.config import Paths, load_settings
from kling_bridge.credentials import load_credential
from kling_bridge.daemon import start_daemon
from kling_bridge.providers.kling import build_kling_provider
from tests.fakes.pipeline import PassthroughPipeline
from tests.kling_emulator import Account, KlingEmulator

pytestmark = pytest.mark.asyncio


async def test_api_key_never_leaks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    account = Account(api_key="sk-live-SECRET-7f3a9c1e5b2d4680aa")
    emu = KlingEmulator(
        [account], submitted_seconds=0.05, processing_seconds=0.1, output_height=120
    )
    await emu.start()
    monkeypatch.setenv("KLING_API_KEY", account.api_key or "")
    monkeypatch.setenv("KLING_API_BASE", emu.base_url)
    paths = Paths.resolve().ensure()
    settings = load_settings(
        overrides={
            "provider": "kling",
            "log_level": "DEBUG",
            "server.port": 0,
            "hosting.media_host": "https://public.example/",
            "hosting.listen_port": 0,
        }
    )
    credential = load_credential(paths)
    assert credential.source == "environment"
    running = await start_daemon(
        settings,
        paths,
        providers={"kling": build_kling_provider(settings, credential, paths)},
        pipeline=PassthroughPipeline(),
        poll_intervals={"kling": (0.05, 0.2)},
    )
    answers: list[str] = []
    try:
        headers = {"Authorization": f"Bearer {running.services.token}"}
        async with aiohttp.ClientSession(running.url, headers=headers) as http:

            async def call(method: str, path: str, body: object = None) -> dict[str, Any]:
                async with http.request(method, path, json=body) as r:
                    answers.append(await r.text())
                    return await r.json()

            ok = await call(
                "POST",
                "/v1/generate",
                {"prompt": "a quiet harbour", "duration": 5, "resolution": "720p"},
            )
            for _ in range(400):  # let its create pass before the next one is refused
                if (await call("GET", f"/v1/jobs/{ok['jobs'][0]['id']}"))["tasks"]:
                    break
                await asyncio.sleep(0.02)
            for _ in range(400):
                job = await call("GET", f"/v1/jobs/{ok['jobs'][0]['id']}")
                if job["tasks"][0]["provider_task_id"]:
                    break
                await asyncio.sleep(0.02)
            emu.add_fault(on="create", action="error", code=1102, message="balance not enough")
            bad = await call("POST", "/v1/generate", {"prompt": "second", "duration": 5})
            ids = [ok["jobs"][0]["id"], bad["jobs"][0]["id"]]
            for _ in range(400):
                jobs = [await call("GET", f"/v1/jobs/{i}") for i in ids]
                if all(j["state"] in ("succeeded", "failed") for j in jobs):
                    break
                await asyncio.sleep(0.05)
            assert [j["state"] for j in jobs] == ["succeeded", "failed"], jobs
            assert "resource pack" in jobs[1]["error"]["message"]
            await call("GET", "/v1/health")
            await call("GET", "/v1/jobs")
            await call("GET", f"/v1/batches/{ok['batch_id']}")
            await call("GET", "/v1/jobs/j0000000000000000000000000")
    finally:
        await running.stop()
        await emu.stop()
    assert sum(emu.stats.tasks_created.values()) == 1, "the key was never used against Kling"
    assert emu.stats.auth_on_results == 0
    secret = account.api_key or ""
    forms = {secret, urllib.parse.quote(secret), secret[4:20]}
    log_text = "".join(p.read_text(errors="replace") for p in paths.log_dir.glob("*.log*"))
    assert "kling" in log_text.lower()  # the DEBUG log was really written
    db_bytes = b"".join(p.read_bytes() for p in paths.data_dir.glob("jobs.sqlite3*"))
    for form in forms:
        assert form not in log_text, "secret in the log"
        assert form.encode() not in db_bytes, "secret in the job database"
        for answer in answers:
            assert form not in answer, "secret in an API answer"
