"""The aiohttp application: typed state, middlewares, routes, lifetimes.

``create_app`` takes already-built services (engine, settings, token...) so tests swap the
provider and pipeline by passing other objects, never by patching. ``serve`` (in
``daemon.py``) builds the real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from .routes_chains import register as register_chain_routes
from .routes_elements import register as register_element_routes
from .routes_jobs import register as register_job_routes
from .routes_submit import register as register_submit_routes
from .security import error_middleware, security_middleware
from .state import SERVICES, Services

__all__ = ["SERVICES", "Services", "create_app"]


def create_app(services: Services, *, manage_engine: bool = True) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, security_middleware(services.token, services.hosts)],
        client_max_size=services.settings.server.max_body_bytes,
    )
    app[SERVICES] = services
    services.chain_driver()  # listens to the engine from now on
    register_job_routes(app)
    register_submit_routes(app)
    register_chain_routes(app)
    register_element_routes(app)
    if manage_engine:
        app.cleanup_ctx.append(_engine_lifetime)
    return app


async def _engine_lifetime(app: web.Application) -> AsyncIterator[None]:
    engine = app[SERVICES].engine
    chains = app[SERVICES].chain_driver()
    await engine.start()
    await chains.start()  # its first pass starts the links a stop or crash left waiting
    yield
    await chains.stop()
    await engine.stop()
