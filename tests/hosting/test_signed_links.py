"""The signed-link listener serves only files of live jobs, by signed expiring links."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import aiohttp
import pytest

from kling_bridge.hosting import SignedLinkHost


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "media" / "shot 01 #é.mp4"
    path.parent.mkdir()
    path.write_bytes(os.urandom(200_000))
    return path


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[SignedLinkHost]:
    h = SignedLinkHost(tmp_path / "hosted", tmp_path / "cfg" / "link.key", listen_port=0,
                       ttl_seconds=600)
    await h.start()
    yield h
    await h.aclose()


async def get(url: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers,
                                                   allow_redirects=False) as r:
        return r.status, await r.read(), dict(r.headers)


async def test_published_file_is_served_with_range(host: SignedLinkHost, clip: Path) -> None:
    url = await host.publish(clip, "job-1")
    assert url.startswith(f"http://127.0.0.1:{host.listen_port}/m/")
    assert "media" not in url and "shot" in url  # the folder never shows, the name may
    status, body, headers = await get(url)
    assert status == 200 and body == clip.read_bytes()
    assert headers["Cache-Control"] == "private, no-store"
    status, body, headers = await get(url, Range="bytes=1000-1999")
    assert status == 206 and body == clip.read_bytes()[1000:2000]
    assert headers["Content-Range"] == f"bytes 1000-1999/{clip.stat().st_size}"


async def test_release_kills_the_links_at_once(host: SignedLinkHost, clip: Path) -> None:
    url = await host.publish(clip, "job-1")
    other = await host.publish(clip, "job-2")
    await host.release("job-1")
    assert (await get(url))[0] == 404
    assert (await get(other))[0] == 200  # another live job is untouched
    await host.release("job-1")  # idempotent


async def test_bad_signatures_expiry_and_guessing_all_get_404(
    host: SignedLinkHost, clip: Path
) -> None:
    url = await host.publish(clip, "job-1")
    parsed = urlparse(url)
    q = parse_qs(parsed.query)
    base = f"{parsed.scheme}://{parsed.netloc}"
    job, token, name = parsed.path.split("/")[2:5]
    sig, exp = q["s"][0], int(q["e"][0])
    forged = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    attempts = [
        f"{base}{parsed.path}?e={exp}&s={forged}",  # tampered signature
        f"{base}{parsed.path}?e={exp + 3600}&s={sig}",  # extended expiry
        f"{base}{parsed.path}",  # unsigned
        f"{base}/m/{job}/{'0' * 16}/{name}?e={exp}&s={sig}",  # another token
        f"{base}/m/{job}/",  # listing
        f"{base}/m/",
        f"{base}/",
        f"{base}/m/{job}/{token}/..%2F..%2Fcfg%2Flink.key?e={exp}&s={sig}",
        f"{base}/m/{job}/{token}/other-name.mp4?e={exp}&s={sig}",
        f"{base}/m/..%2F..%2Fcfg/{token}/x?e={exp}&s={sig}",
        f"{base}/v1/health",  # nothing of the daemon lives here
        f"{base}/v1/jobs",
    ]
    for attempt in attempts:
        status, body, _ = await get(attempt)
        assert status == 404, attempt
        assert clip.read_bytes()[:100] not in body
    async with aiohttp.ClientSession() as s, s.post(url) as r:
        assert r.status in (404, 405)


async def test_expired_link_is_refused(tmp_path: Path, clip: Path) -> None:
    h = SignedLinkHost(tmp_path / "hosted", tmp_path / "k", listen_port=0, ttl_seconds=1)
    await h.start()
    try:
        url = await h.publish(clip, "job-1")
        assert (await get(url))[0] == 200
        exp = int(parse_qs(urlparse(url).query)["e"][0])
        time.sleep(max(0.0, exp - time.time()) + 1.1)
        assert (await get(url))[0] == 404
    finally:
        await h.aclose()


async def test_links_survive_a_restart_and_the_key_is_private(tmp_path: Path,
                                                              clip: Path) -> None:
    key = tmp_path / "cfg" / "link.key"
    first = SignedLinkHost(tmp_path / "hosted", key, listen_port=0)
    await first.start()
    url = await first.publish(clip, "job-1")
    port = first.listen_port
    await first.aclose()
    second = SignedLinkHost(tmp_path / "hosted", key, listen_port=port)
    await second.start()
    try:
        assert (await get(url))[0] == 200
    finally:
        await second.aclose()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


async def test_public_base_is_used_for_tunnels(tmp_path: Path, clip: Path) -> None:
    h = SignedLinkHost(tmp_path / "hosted", tmp_path / "k", listen_port=0,
                       public_base="https://tunnel.example/kb")
    url = await h.publish(clip, "job-1")
    await h.aclose()
    assert url.startswith("https://tunnel.example/kb/m/")
