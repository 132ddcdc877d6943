"""S3-compatible hosting: upload, hand out a presigned GET that expires, delete at the end.

Works with AWS S3, Cloudflare R2, Backblaze B2 and MinIO through ``endpoint_url``.
Credentials come from boto3's own chain (environment, ``~/.aws``, instance roles): the
bridge never stores them. boto3 blocks, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
from pathlib import Path
from typing import Any

from .base import HostingError

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_part(text: str) -> str:
    """An S3 key segment from a job id or file name (no slashes, no surprises)."""
    return _SAFE.sub("_", text).strip("._") or "file"


class S3Host:
    name = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        ttl_seconds: int = 6 * 3600,
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str = "auto",
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.ttl = ttl_seconds
        self._endpoint = endpoint_url
        self._region = region
        style = addressing_style
        if style == "auto":
            style = "path" if endpoint_url else "virtual"
        self._style = style
        self._client = client

    def __repr__(self) -> str:
        return f"S3Host(s3://{self.bucket}/{self.prefix})"

    def _s3(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self._endpoint,
                region_name=self._region,
                config=Config(signature_version="s3v4", s3={"addressing_style": self._style}),
            )
        return self._client

    def _job_prefix(self, job_id: str) -> str:
        head = f"{self.prefix}/" if self.prefix else ""
        return f"{head}{safe_part(job_id)}/"

    def key_for(self, path: Path, job_id: str) -> str:
        """Deterministic, so a re-publish after a crash overwrites instead of piling up."""
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
        return f"{self._job_prefix(job_id)}{digest}-{safe_part(path.name)}"

    async def start(self) -> None:
        return None

    def _publish(self, path: Path, job_id: str) -> str:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        s3 = self._s3()
        key = self.key_for(path, job_id)
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            s3.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": ctype})
            url: str = s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.ttl
            )
        except (Boto3Error, BotoCoreError, ClientError) as exc:
            raise HostingError(
                f"Could not upload '{path.name}' to s3://{self.bucket}/{key} "
                f"({type(exc).__name__}: {_short(exc)})",
                hint="check the bucket name, hosting.s3_endpoint_url and the AWS credentials "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or ~/.aws)",
            ) from None
        return url

    async def publish(self, path: Path, job_id: str) -> str:
        return await asyncio.to_thread(self._publish, path, job_id)

    def _release(self, job_id: str) -> int:
        s3 = self._s3()
        prefix = self._job_prefix(job_id)
        deleted = 0
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = s3.list_objects_v2(**kwargs)
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
            if not page.get("IsTruncated"):
                return deleted
            token = page.get("NextContinuationToken")

    async def release(self, job_id: str) -> None:
        await asyncio.to_thread(self._release, job_id)

    async def aclose(self) -> None:
        return None


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else ""
