"""How the watch service reaches the job engine: one port, two ways in.

Inside the daemon (``[[watch]]`` folders) the service calls the same functions the HTTP
routes call -- ``routes_submit.restyle_batch``/``generate_batch`` with the daemon's services
-- so there is no second path into the engine and no loopback HTTP or token handling.
``kling-bridge watch`` run beside an already running daemon cannot share its process, so it
uses the daemon's HTTP API with the standard client, exactly as a plugin does. Both take
the same request bodies and answer the same JSON shapes (``BatchOut``, ``BatchStatusOut``),
and both honour ``idempotency_key``: a watcher that crashed between submitting and
recording the answer asks again and gets the same batch, never a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..api.state import Services
    from ..client import BridgeClient


class Refused(Exception):
    """The daemon refused the request: the item goes to failed/ with this message."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


class Unavailable(Exception):
    """The daemon could not be reached: try again later, nothing is lost."""


class Bridge(Protocol):
    mode: str

    async def presets(self) -> Sequence[Mapping[str, Any]]: ...

    async def submit(self, verb: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def batch(self, batch_id: str) -> dict[str, Any] | None: ...

    async def compare(self, batch_id: str) -> dict[str, Any]:
        """The batch's comparison picture(s) (``POST /v1/batches/{id}/compare``)."""
        ...

    def changes(self) -> AsyncIterator[str] | None:
        """Batch ids as their jobs end (a hint to look now), or None: poll only."""
        ...


class InProcessBridge:
    """The daemon's own services, called directly (no HTTP)."""

    mode = "daemon"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def presets(self) -> Sequence[Mapping[str, Any]]:
        return list(self.services.presets())

    async def submit(self, verb: str, body: Mapping[str, Any]) -> dict[str, Any]:
        from pydantic import ValidationError

        from ..api import schemas as s
        from ..api.routes_submit import generate_batch, restyle_batch
        from ..api.security import ApiError

        try:
            if verb == "restyle":
                answer, _ = await restyle_batch(self.services, s.RestyleIn.model_validate(body))
            else:
                answer, _ = await generate_batch(self.services, s.GenerateIn.model_validate(body))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "request"
            raise Refused("bad_request", f"{where}: {first['msg']}") from exc
        except ApiError as exc:
            raise Refused(exc.code, exc.message, exc.hint) from exc
        return answer.model_dump(mode="json")

    async def batch(self, batch_id: str) -> dict[str, Any] | None:
        from ..api.routes_jobs import batch_state
        from ..api.summary import job_summary

        store = self.services.engine.store
        found = store.batch(batch_id)
        if found is None:
            return None
        jobs = store.batch_jobs(batch_id)
        chains = self.services.chain_driver().of_batch(batch_id)
        state = batch_state(jobs)
        if any(c["state"] == "running" for c in chains):
            state = "running"  # links still to come (as GET /v1/batches/{id} says)
        return {"batch_id": batch_id, "kind": found["kind"], "state": state,
                "jobs": [job_summary(j) for j in jobs], "chains": chains}

    async def compare(self, batch_id: str) -> dict[str, Any]:
        from ..api import schemas as s
        from ..api.routes_chains import comparison
        from ..api.security import ApiError

        store = self.services.engine.store
        found = store.batch(batch_id)
        if found is None:
            raise Refused("not_found", f"no batch {batch_id}")
        try:
            answer = await comparison(self.services, found, store.batch_jobs(batch_id),
                                      s.CompareIn())
        except ApiError as exc:
            raise Refused(exc.code, exc.message, exc.hint) from exc
        return answer.model_dump(mode="json")

    async def changes(self) -> AsyncIterator[str]:
        from ..jobs.model import TERMINAL, JobState

        ended = {*TERMINAL, JobState.NEEDS_ATTENTION}
        stream = self.services.engine.events.subscribe()
        try:
            async for event in stream:
                batch_id = event.job.batch_id
                if batch_id and event.job.state in ended:  # only when a job ends
                    yield str(batch_id)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]


class HttpBridge:
    """A running daemon's API through the standard-library client (in worker threads)."""

    mode = "http"

    def __init__(self, client: BridgeClient) -> None:
        self.client = client

    async def _call(self, fn: Any, *args: Any) -> Any:
        from ..client import BridgeError

        try:
            return await asyncio.to_thread(fn, *args)
        except BridgeError as exc:
            if exc.code in ("unreachable", "not_running") or (exc.status or 0) >= 500:
                raise Unavailable(exc.message) from exc
            raise Refused(exc.code, exc.message, exc.hint) from exc

    async def presets(self) -> Sequence[Mapping[str, Any]]:
        result: Sequence[Mapping[str, Any]] = await self._call(self.client.presets)
        return result

    async def submit(self, verb: str, body: Mapping[str, Any]) -> dict[str, Any]:
        fn = self.client.restyle if verb == "restyle" else self.client.generate
        answer: dict[str, Any] = await self._call(fn, dict(body))
        return answer

    async def batch(self, batch_id: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = await self._call(self.client.batch, batch_id)
        except Refused as exc:
            if exc.code == "not_found":
                return None
            raise
        return answer

    async def compare(self, batch_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._call(self.client.compare, batch_id)
        return answer

    def changes(self) -> AsyncIterator[str] | None:
        return None
