"""Settings: one model, read from ``config.toml`` in the config dir, then the environment.

Where the files are (``KLING_BRIDGE_HOME`` or the per-user folders) is :mod:`.paths`'s rule;
``Paths`` is re-exported here for the many callers that read both.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from .paths import APP as APP  # re-exported: the config's own words
from .paths import Paths as Paths
from .watch.settings import WatchEntry  # pydantic models only, no I/O

REGIONS: dict[str, str] = {
    "global": "https://api-singapore.klingai.com",
    "china": "https://api-beijing.klingai.com",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def loopback_only(host: str) -> str:
    """The daemon listens on loopback only: anything else would serve every machine that
    can reach this one with nothing but the token between them and the user's money."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return name
    try:
        if ipaddress.ip_address(name).is_loopback:
            return name
    except ValueError:
        pass
    raise ValueError(
        f"{host!r} is not a loopback address: kling-bridge listens on 127.0.0.1, ::1 or "
        "localhost only (a remote mode with TLS does not exist yet); unset "
        "KLING_BRIDGE_HOST or set server.host = \"127.0.0.1\""
    )


class ServerSettings(_Section):
    host: Annotated[str, AfterValidator(loopback_only)] = "127.0.0.1"
    port: int = Field(47821, ge=0, le=65535)  # 0 = any free port (the discovery file tells)
    max_body_bytes: int = 32 * 1024 * 1024
    allowed_hosts: list[str] = Field(default_factory=list)  # beyond 127.0.0.1/localhost/[::1]


class QueueSettings(_Section):
    concurrency: dict[str, int] = Field(default_factory=lambda: {"draft": 2, "kling": 4})
    max_attempts: int = Field(5, ge=1, le=50)
    backoff_base: float = Field(2.0, gt=0)
    backoff_cap: float = Field(300.0, gt=0)
    # How long a task whose create may have happened is looked up (with backoff) before a
    # person is asked: Kling's API being unreachable for a few hours must not strand a job.
    lookup_patience_seconds: float = Field(6 * 3600.0, gt=0)


class KlingSettings(_Section):
    region: Literal["global", "china"] = "global"
    api_base: str | None = None  # overrides region (KLING_API_BASE)
    standard: Literal["auto", "new", "legacy"] = "auto"
    edit_model: str = "kling-3.0-omni"
    generate_model: str = "kling-3.0"
    poll_min_seconds: float = 1.5  # queries are free and batched; a share of the age above it
    poll_max_seconds: float = 30.0
    poll_timeout_seconds: float = 3 * 3600.0
    request_timeout_seconds: float = 60.0
    # Additions for the Kling provider (all optional, defaults keep old configs valid):
    callback_url: str | None = None  # sent as options.callback_url (legacy: callback_url)
    download_timeout_seconds: float = 1800.0
    inline_image_max_bytes: int = 7_500_000  # larger images are hosted (base64 stays <10 MB)
    poll_fraction: float = Field(0.02, gt=0, le=1)  # poll delay as a share of a task's age

    @property
    def base_url(self) -> str:
        return (self.api_base or REGIONS[self.region]).rstrip("/")


class HostingSettings(_Section):
    """How a local clip becomes a URL Kling can fetch (it has no upload endpoint)."""

    media_host: str | None = None  # "s3://bucket/prefix" or "https://public.example/"
    s3_endpoint_url: str | None = None  # R2, B2, MinIO...
    s3_region: str | None = None
    url_ttl_seconds: int = Field(6 * 3600, ge=60)
    listen_host: str = "127.0.0.1"  # signed-link listener (behind the user's tunnel)
    listen_port: int = Field(47822, ge=0, le=65535)
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"  # auto: path w/ endpoint


class BudgetSettings(_Section):
    per_job_units: float | None = None
    per_day_units: float | None = None


class DraftSettings(_Section):
    """The offline draft provider's local renders."""

    # x264's speed/size trade for draft renders: ``ultrafast`` renders a draft in about half
    # the time for a larger file (drafts are previews; the picture is the same filter graph).
    encoder_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast",
                            "medium"] = "veryfast"


class Settings(_Section):
    provider: Literal["draft", "kling"] = "draft"
    server: ServerSettings = Field(default_factory=ServerSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    kling: KlingSettings = Field(default_factory=KlingSettings)
    hosting: HostingSettings = Field(default_factory=HostingSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    draft: DraftSettings = Field(default_factory=DraftSettings)
    log_level: str = "INFO"
    # ``[[watch]]`` tables: folders watched while the daemon runs (see watch/settings.py)
    watch: list[WatchEntry] = Field(default_factory=list)


class ConfigError(ValueError):
    """The config file or an environment override is wrong; the message says where."""


#: Environment variable -> dotted settings key.
ENV_OVERRIDES: dict[str, str] = {
    "KLING_BRIDGE_PROVIDER": "provider",
    "KLING_BRIDGE_PORT": "server.port",
    "KLING_BRIDGE_HOST": "server.host",
    "KLING_BRIDGE_LOG_LEVEL": "log_level",
    "KLING_API_BASE": "kling.api_base",
    "KLING_BRIDGE_MEDIA_HOST": "hosting.media_host",
    "KLING_BRIDGE_S3_ENDPOINT_URL": "hosting.s3_endpoint_url",
}


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def load_settings(
    paths: Paths | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """File, then environment, then explicit ``overrides`` (dotted keys, e.g. from CLI flags)."""
    env = os.environ if env is None else env
    paths = paths or Paths.resolve(env)
    data: dict[str, Any] = {}
    if paths.config_file.exists():
        try:
            data = tomllib.loads(paths.config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{paths.config_file}: not valid TOML ({exc}); fix or delete the file"
            ) from exc
    for var, key in ENV_OVERRIDES.items():
        if env.get(var):
            _set_dotted(data, key, env[var])
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"{paths.config_file}: {problems}") from exc
