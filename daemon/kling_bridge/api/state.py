"""Typed application state shared by the route modules (aiohttp ``AppKey``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .. import __version__
from ..config import Paths, Settings
from ..elements import Elements
from ..jobs.chains import Chains
from ..jobs.engine import Engine
from .security import allowed_hosts


@dataclass
class Services:
    engine: Engine
    settings: Settings
    paths: Paths
    token: str
    credentials: dict[str, Any]  # describe(): where the credential came from, never its value
    presets: Callable[[], Sequence[dict[str, Any]]] = lambda: []
    version: str = __version__
    port: int = 0  # the bound port, known after the site starts
    extra_hosts: Sequence[str] = field(default_factory=list)
    chains: Chains | None = None  # made by create_app when not given
    elements: Elements | None = None

    def chain_driver(self) -> Chains:
        if self.chains is None:
            self.chains = Chains(self.engine)
        return self.chains

    def element_register(self) -> Elements:
        if self.elements is None:
            self.elements = Elements(self.engine.store, self.paths.data_dir / "elements")
        return self.elements

    def hosts(self) -> frozenset[str]:
        """The Host values this daemon answers to (asked on every request: kept per port)."""
        cached = self.__dict__.get("_hosts")
        if cached is None or cached[0] != self.port:
            names = allowed_hosts(self.port, [*self.settings.server.allowed_hosts,
                                              *self.extra_hosts])
            cached = (self.port, names)
            self.__dict__["_hosts"] = cached
        hosts: frozenset[str] = cached[1]
        return hosts


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
