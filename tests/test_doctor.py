"""Doctor: each check run against a real failure of the thing it checks.

The "daemon" here is a stdlib HTTP server that speaks the health contract (bearer token,
``GET /v1/health``); it stands in for the real app so the client side of the check is
tested on a real socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from keyring.backends import fail

from kling_bridge.config import Paths, Settings
from kling_bridge.credentials import KlingCredential, store_credential
from kling_bridge.doctor import (
    Check,
    check_config,
    check_credentials,
    check_daemon,
    check_database,
    check_disk,
    check_provider,
    check_roundtrip,
    check_tool,
    checks_to_json,
    format_checks,
    run_checks,
    run_checks_sync,
)
from kling_bridge.providers.base import Reachability

TOKEN = "daemon-token-4f8e2a9c1b7d3e5f6a0b"
API_KEY = "kb-doctor-key-1a2b3c4d5e6f7a8b"


@pytest.fixture
def paths() -> Paths:
    return Paths.resolve().ensure()


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


# -- a whole run ----------------------------------------------------------------------


def test_fresh_machine_has_no_failures(paths: Paths) -> None:
    checks = run_checks_sync(None, paths, keyring_backend=fail.Keyring(), warn_below_bytes=0)
    named = _by_name(checks)
    assert [c.name for c in checks][:4] == ["ffmpeg", "ffprobe", "ffmpeg encode+probe", "config"]
    assert all(c.ok for c in checks), format_checks(checks)
    assert named["ffmpeg encode+probe"].detail.startswith("encoded an H.264 clip")
    assert named["database"].detail.endswith("will be created on first run")
    assert named["keyring"].level == "warn" and "headless" in named["keyring"].detail
    assert named["daemon"].level == "warn"
    assert named["provider (draft)"].level == "ok"
    assert named["credentials"].detail == "none (the draft provider needs none)"


def test_tool_versions_come_from_the_tools_themselves() -> None:
    import subprocess

    first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True,
                           check=True).stdout.split()[2]
    check = check_tool("ffmpeg")
    assert check.ok and check.detail.startswith(first)


def test_without_ffmpeg_on_path_every_media_check_fails_with_a_fix(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    named = _by_name(run_checks_sync(None, paths, keyring_backend=fail.Keyring()))
    for name in ("ffmpeg", "ffprobe", "ffmpeg encode+probe"):
        assert named[name].level == "fail" and not named[name].ok
        assert "install" in named[name].fix.lower()
    assert "not found on PATH" in named["ffmpeg"].detail


def test_ffmpeg_that_cannot_encode_is_caught(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH whose ffmpeg runs -version but fails real work (a broken install)."""
    import shutil

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    script = fake_bin / "ffmpeg"
    script.write_text('#!/bin/sh\nif [ "$2" = "-version" ]; then echo "ffmpeg version 6.0"; '
                      'exit 0; fi\necho "Unknown encoder libx264" >&2\nexit 1\n')
    script.chmod(0o755)
    (fake_bin / "ffprobe").symlink_to(shutil.which("ffprobe") or "/usr/bin/ffprobe")
    monkeypatch.setenv("PATH", str(fake_bin))
    assert check_tool("ffmpeg").ok
    check = check_roundtrip()
    assert not check.ok and "Unknown encoder libx264" in check.detail
    assert "libx264" in check.fix


# -- database -------------------------------------------------------------------------


def test_healthy_wal_database(paths: Paths) -> None:
    conn = sqlite3.connect(paths.database)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)")
    conn.executemany("INSERT INTO jobs (state) VALUES (?)", [("done",)] * 100)
    conn.commit()
    conn.close()
    check = check_database(paths)
    assert check.level == "ok" and "WAL" in check.detail


def test_database_not_in_wal_mode_is_a_warning(paths: Paths) -> None:
    conn = sqlite3.connect(paths.database)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    check = check_database(paths)
    assert check.level == "warn" and "delete mode" in check.detail


def test_garbage_database_file_fails_and_says_how_to_recover(paths: Paths) -> None:
    paths.database.write_bytes(os.urandom(8192))
    check = check_database(paths)
    assert check.level == "fail"
    assert str(paths.database) in check.detail
    assert f"{paths.database}.broken" in check.fix


def test_database_with_corrupted_pages_fails(paths: Paths) -> None:
    conn = sqlite3.connect(paths.database)
    conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, payload TEXT)")
    conn.execute("CREATE INDEX jobs_payload ON jobs (payload)")
    conn.executemany("INSERT INTO jobs (payload) VALUES (?)",
                     [(f"job-{i:05d}-" + "x" * 200,) for i in range(2000)])
    conn.commit()
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(paths.database.read_bytes())
    start = page_size * 3  # leave the header page intact: the file still opens
    data[start:start + page_size * 4] = os.urandom(page_size * 4)
    paths.database.write_bytes(bytes(data))
    check = check_database(paths)
    assert check.level == "fail" and "damaged" in check.detail


# -- config ---------------------------------------------------------------------------


def test_bad_toml_fails_but_every_other_check_still_runs(paths: Paths) -> None:
    paths.config_file.write_text('provider = "kling"\n[server\nport = 1\n')
    checks = run_checks_sync(None, paths, keyring_backend=fail.Keyring())
    named = _by_name(checks)
    assert named["config"].level == "fail"
    assert "not valid TOML" in named["config"].detail
    assert str(paths.config_file) in named["config"].fix
    assert named["ffmpeg"].ok and "database" in named  # not hidden by the broken file
    assert "provider (draft)" in named  # fell back to defaults


def test_unknown_config_key_is_named(paths: Paths) -> None:
    paths.config_file.write_text('[kling]\nregoin = "china"\n')
    check, settings = check_config(paths)
    assert check.level == "fail" and "kling.regoin" in check.detail and settings is None


def test_good_config_is_reported(paths: Paths) -> None:
    paths.config_file.write_text('provider = "kling"\n[kling]\nregion = "china"\n')
    check, settings = check_config(paths)
    assert check.ok and "provider kling" in check.detail
    assert settings is not None and settings.kling.region == "china"


# -- credentials and keyring ----------------------------------------------------------


def test_loose_credentials_file_fails(paths: Paths) -> None:
    store_credential(KlingCredential(api_key=API_KEY), paths, allow_file=True,
                     keyring_backend=fail.Keyring())
    paths.credentials_file.chmod(0o644)
    check = check_credentials(Settings(), paths, fail.Keyring())
    assert check.level == "fail" and "readable by other users" in check.detail
    assert "chmod 600" in check.fix
    assert API_KEY not in check.detail + check.fix


def test_kling_provider_without_credentials_fails(paths: Paths) -> None:
    check = check_credentials(Settings(provider="kling"), paths, fail.Keyring())
    assert check.level == "fail" and "kling-bridge login" in check.fix


def test_credential_kind_must_fit_the_configured_standard(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLING_ACCESS_KEY", "AK0123456789")
    monkeypatch.setenv("KLING_SECRET_KEY", "SK0123456789abcdef")
    settings = Settings.model_validate({"provider": "kling", "kling": {"standard": "new"}})
    check = check_credentials(settings, paths, fail.Keyring())
    assert check.level == "fail" and "accepts only an API key" in check.detail
    ok = check_credentials(Settings(provider="kling"), paths, fail.Keyring())
    assert ok.ok and ok.detail == "access_key from environment (legacy API standard)"


def test_half_configured_environment_fails(paths: Paths,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_ACCESS_KEY", "AK0123456789")
    check = check_credentials(Settings(), paths, fail.Keyring())
    assert check.level == "fail" and "KLING_SECRET_KEY" in check.detail


# -- disk -----------------------------------------------------------------------------


def test_disk_thresholds(paths: Paths) -> None:
    (plenty,) = check_disk(paths, warn_below=0, fail_below=0)
    assert plenty.level == "ok" and "GB free for data" in plenty.detail
    (low,) = check_disk(paths, warn_below=10**18, fail_below=0)
    assert low.level == "warn" and "restyle outputs are large" in low.fix
    (critical,) = check_disk(paths, warn_below=10**18, fail_below=10**18)
    assert critical.level == "fail"


def test_disk_check_works_before_the_folders_exist(tmp_path: Path) -> None:
    root = tmp_path / "not-yet"
    paths = Paths(root / "c", root / "d", root / "cache", root / "l")
    assert check_disk(paths, warn_below=0)[0].ok


# -- the running daemon ---------------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]]

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization", "")))  # type: ignore[attr-defined]
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"version": "0.1.0", "provider": "draft"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.seen = []  # type: ignore[attr-defined]
    # shutdown() waits for serve_forever's next poll: 0.5 s by default, per test
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _write_discovery(paths: Paths, mode: int = 0o600, **info: Any) -> None:
    data = {"host": "127.0.0.1", "port": 1, "token": TOKEN, "pid": os.getpid(),
            "version": "0.1.0", "started_at": "2026-01-01T00:00:00Z", **info}
    paths.discovery_file.write_text(json.dumps(data))
    paths.discovery_file.chmod(mode)


def test_answering_daemon(paths: Paths, health_server: ThreadingHTTPServer) -> None:
    _write_discovery(paths, port=health_server.server_address[1])
    check = check_daemon(paths)
    assert check.level == "ok" and "version 0.1.0" in check.detail
    assert health_server.seen == [("/v1/health", f"Bearer {TOKEN}")]  # type: ignore[attr-defined]
    assert TOKEN not in check.detail


def test_wrong_token_is_a_stale_discovery_file(paths: Paths,
                                               health_server: ThreadingHTTPServer) -> None:
    _write_discovery(paths, port=health_server.server_address[1], token="old-token-123456")
    check = check_daemon(paths)
    assert check.level == "fail" and "HTTP 401" in check.detail
    assert "old-token-123456" not in check.detail + check.fix


def test_loose_discovery_file_fails_before_anything_is_sent(
    paths: Paths, health_server: ThreadingHTTPServer
) -> None:
    _write_discovery(paths, mode=0o644, port=health_server.server_address[1])
    check = check_daemon(paths)
    assert check.level == "fail" and "readable by other users" in check.detail
    assert health_server.seen == []  # type: ignore[attr-defined]


def test_nothing_listening(paths: Paths) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _write_discovery(paths, port=port)
    check = check_daemon(paths)
    assert check.level == "fail" and f"nothing answers on 127.0.0.1:{port}" in check.detail


def test_dead_pid_is_reported_as_stale(paths: Paths) -> None:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    _write_discovery(paths, pid=proc.pid)
    check = check_daemon(paths)
    assert check.level == "warn" and f"process {proc.pid} is gone" in check.detail


def test_token_is_never_sent_off_the_machine(paths: Paths) -> None:
    _write_discovery(paths, host="daemon.example.invalid", port=80)
    check = check_daemon(paths)
    assert check.level == "fail" and "not a loopback address" in check.detail


def test_proxy_variables_never_see_the_token(
    paths: Paths, health_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    proxy.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=proxy.serve_forever, args=(0.02,), daemon=True).start()
    try:
        proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
        for var in ("http_proxy", "HTTP_PROXY", "all_proxy"):
            monkeypatch.setenv(var, proxy_url)
        for var in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(var, raising=False)
        _write_discovery(paths, port=health_server.server_address[1])
        assert check_daemon(paths).ok
        assert proxy.seen == []  # type: ignore[attr-defined]
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_unreadable_discovery_file(paths: Paths) -> None:
    paths.discovery_file.write_text("{not json")
    paths.discovery_file.chmod(0o600)
    check = check_daemon(paths)
    assert check.level == "fail" and "unreadable" in check.detail


# -- provider -------------------------------------------------------------------------


async def test_provider_check_results() -> None:
    settings = Settings(provider="kling")

    async def unreachable() -> Reachability:
        return Reachability(False, "Kling answered 401 (code 1002)", "Run `kling-bridge login`.")

    async def reachable() -> Reachability:
        return Reachability(True, "api-singapore.klingai.com answered in 120 ms")

    async def slow() -> Reachability:
        await asyncio.sleep(5)
        return Reachability(True, "late")

    async def broken() -> Reachability:
        raise RuntimeError(f"boom with Bearer {API_KEY}")

    bad = await check_provider(settings, unreachable)
    assert (bad.level, bad.detail, bad.fix) == (
        "fail", "Kling answered 401 (code 1002)", "Run `kling-bridge login`.")
    assert (await check_provider(settings, reachable)).ok
    late = await check_provider(settings, slow, timeout=0.05)
    assert late.level == "fail" and "no answer within 0.05 s" in late.detail
    crashed = await check_provider(settings, broken)
    assert crashed.level == "fail" and API_KEY not in crashed.detail
    assert (await check_provider(settings, None)).level == "warn"


async def test_run_checks_from_inside_an_event_loop(paths: Paths) -> None:
    calls: list[str] = []

    async def probe() -> Reachability:
        calls.append("called")
        return Reachability(True, "ok")

    checks = await run_checks(Settings(), paths, provider_check=probe, include_daemon=False,
                              keyring_backend=fail.Keyring())
    assert calls == ["called"] and "daemon" not in _by_name(checks)


# -- output ---------------------------------------------------------------------------


def test_output_holds_no_secret_and_lines_up(
    paths: Paths, health_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLING_API_KEY", API_KEY)
    _write_discovery(paths, port=health_server.server_address[1])
    paths.database.write_bytes(b"not a database at all" * 100)
    checks = run_checks_sync(Settings(provider="kling"), paths, keyring_backend=fail.Keyring())
    text = format_checks(checks)
    blob = json.dumps(checks_to_json(checks))
    for secret in (API_KEY, TOKEN):
        assert secret not in text and secret not in blob

    rows = [ln for ln in text.splitlines() if ln[:1] in ("✓", "!", "✗")]
    assert len(rows) == len(checks)
    offsets = {ln.index(c.detail[:20]) for ln, c in zip(rows, checks, strict=True)}
    assert len(offsets) == 1  # every detail starts in the same column
    assert "✗  database" in text and "fix: Stop the daemon and move the file aside" in text
    assert text.splitlines()[-1].endswith("1 failed")

    data = json.loads(blob)
    assert data["ok"] is False and data["summary"]["fail"] == 1
    db = next(c for c in data["checks"] if c["name"] == "database")
    assert set(db) == {"name", "ok", "detail", "fix", "level"} and db["ok"] is False
