"""Pick the media host from settings: ``s3://bucket/prefix`` or a public ``https://`` base."""

from __future__ import annotations

from urllib.parse import urlparse

from ..config import HostingSettings, Paths
from .base import HostingError, MediaHost
from .s3 import S3Host
from .signed import SignedLinkHost


def build_media_host(settings: HostingSettings, paths: Paths) -> MediaHost | None:
    """``None`` when no host is configured (text and inline-image jobs still work)."""
    spec = (settings.media_host or "").strip()
    if not spec:
        return None
    parsed = urlparse(spec)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise HostingError(f"media host {spec!r} names no bucket",
                               hint="write s3://BUCKET/optional/prefix")
        return S3Host(
            parsed.netloc,
            parsed.path.strip("/"),
            ttl_seconds=settings.url_ttl_seconds,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            addressing_style=settings.s3_addressing_style,
        )
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return SignedLinkHost(
            paths.data_dir / "hosted",
            paths.config_dir / "media-link.key",
            public_base=spec,
            listen_host=settings.listen_host,
            listen_port=settings.listen_port,
            ttl_seconds=settings.url_ttl_seconds,
        )
    raise HostingError(
        f"media host {spec!r} is neither s3://bucket/prefix nor an http(s) base URL",
        hint="use --media-host s3://bucket/prefix or --media-host https://your-tunnel.example/",
    )
