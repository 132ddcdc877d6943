# Copied from daemon/kling_bridge/client.py by plugins/resolve/sync_client.py:
# edit that file, then run the script.
"""A client of the daemon's v1 API using the standard library only.

This one file is the client everywhere: the CLI uses it, and the host plugins ship a copy
(DaVinci Resolve and Blender run their own Pythons, without our dependencies). So it keeps
to syntax Python 3.6 accepts -- no ``from __future__ import annotations``, no walrus, no
dataclasses -- and it finds the daemon the way the daemon announces itself: a 0600
discovery file in the user's config folder (or under ``KLING_BRIDGE_HOME``).
"""

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import (  # noqa: F401 (used by type comments)
    Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple)

API = "/v1"
DISCOVERY_NAME = "daemon.json"
APP = "kling-bridge"


class BridgeError(Exception):
    """A refusal from the daemon (its JSON error) or a failure to reach it."""

    def __init__(self, code, message, hint="", status=None):
        # type: (str, str, str, Optional[int]) -> None
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.hint = hint
        self.status = status

    def __str__(self):
        # type: () -> str
        return self.message + (" (" + self.hint + ")" if self.hint else "")


def config_dir(env=None):
    # type: (Optional[Mapping[str, str]]) -> str
    """Where the daemon writes its discovery file: platformdirs' user config dir, by hand."""
    environ = os.environ if env is None else env  # type: Mapping[str, str]
    home = environ.get("KLING_BRIDGE_HOME")
    if home:
        return os.path.join(os.path.abspath(os.path.expanduser(home)), "config")
    if sys.platform == "win32":
        base = environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
        return os.path.join(base, APP)
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Application Support/" + APP)
    base = environ.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
    return os.path.join(base, APP)


def discovery_path(env=None):
    # type: (Optional[Mapping[str, str]]) -> str
    return os.path.join(config_dir(env), DISCOVERY_NAME)


def read_discovery(path=None):
    # type: (Optional[str]) -> Any
    path = path or discovery_path()
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # the daemon never redirects: refuse to follow (the token would go along)
        return None


class BridgeClient:
    """Talks to one daemon. Every method returns parsed JSON or raises BridgeError."""

    def __init__(self, url, token, timeout=30.0):
        # type: (str, str, float) -> None
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        # No proxies: the token must never travel to a proxy set in the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)

    @classmethod
    def discover(cls, path=None, timeout=30.0):
        # type: (Optional[str], float) -> BridgeClient
        data = read_discovery(path)
        if not data or not data.get("port") or not data.get("token"):
            raise BridgeError(
                "not_running",
                "the kling-bridge daemon is not running",
                "start it with 'kling-bridge serve' (or let the installer start it)",
            )
        host = data.get("host") or "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = "[" + host + "]"
        return cls("http://%s:%d" % (host, int(data["port"])), data["token"], timeout)

    # ------------------------------------------------------------------ plumbing

    def _request(self, method, path, body=None, raw=False, timeout=None):
        # type: (str, str, Any, bool, Optional[float]) -> Any
        data = None
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            resp = self._opener.open(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None
        except (socket.timeout, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BridgeError(
                "unreachable",
                "cannot reach the kling-bridge daemon at %s (%s)" % (self.url, reason),
                "is it running? 'kling-bridge status' tells",
            ) from None
        with resp:
            payload = resp.read()
        if raw:
            return payload
        return json.loads(payload.decode("utf-8")) if payload else {}

    def get(self, path, **query):
        # type: (str, Any) -> Any
        q = "&".join("%s=%s" % (k, _quote(str(v))) for k, v in query.items() if v is not None)
        return self._request("GET", API + path + ("?" + q if q else ""))

    def post(self, path, body=None):
        # type: (str, Any) -> Any
        return self._request("POST", API + path, body if body is not None else {})

    # ------------------------------------------------------------------ the API

    def health(self):
        # type: () -> Any
        return self.get("/health")

    def presets(self):
        # type: () -> Any
        return self.get("/presets")["presets"]

    def restyle(self, body):
        # type: (Dict[str, Any]) -> Any
        return self.post("/restyle", body)

    def generate(self, body):
        # type: (Dict[str, Any]) -> Any
        return self.post("/generate", body)

    def lipsync(self, body):
        # type: (Dict[str, Any]) -> Any
        return self.post("/lipsync", body)

    def jobs(self, state=None, batch=None, limit=None, before=None):
        # type: (Optional[str], Optional[str], Optional[int], Optional[str]) -> Any
        return self.get("/jobs", state=state, batch=batch, limit=limit, before=before)

    def job(self, job_id):
        # type: (str) -> Any
        return self.get("/jobs/" + job_id)

    def cancel(self, job_id):
        # type: (str) -> Any
        return self.post("/jobs/%s/cancel" % job_id)

    def retry(self, job_id):
        # type: (str) -> Any
        return self.post("/jobs/%s/retry" % job_id)

    def batch(self, batch_id):
        # type: (str) -> Any
        return self.get("/batches/" + batch_id)

    def batch_timeline(self, batch_id, fmt="otio"):
        # type: (str, str) -> bytes
        """The result timeline as bytes, in ``fmt`` (otio, fcp_xml, fcpx_xml, cmx_3600...)."""
        path = API + "/batches/%s/timeline?format=%s" % (batch_id, _quote(fmt))
        payload = self._request("GET", path, raw=True)  # type: bytes
        return payload

    def export_batch(self, batch_id, folder, fmt=None):
        # type: (str, str, Optional[str]) -> Dict[str, Any]
        """Copy the batch's outputs into ``folder`` (never overwriting) and write the result
        timeline there, linking to the copies; answers what was written (ExportOut)."""
        body = {"folder": folder}  # type: Dict[str, Any]
        if fmt:
            body["format"] = fmt
        answer = self.post("/batches/%s/export" % batch_id, body)  # type: Dict[str, Any]
        return answer

    def chain(self, chain_id):
        # type: (str) -> Any
        """A chain: its links (each a job, created when the one it follows succeeded)."""
        return self.get("/chains/" + chain_id)

    def compare(self, batch_id, frames=4, tile_width=320, source=True):
        # type: (str, int, int, bool) -> Any
        """The batch's comparison picture(s): the same frames of every look side by side."""
        return self.post("/batches/%s/compare" % batch_id,
                         {"frames": frames, "tile_width": tile_width, "source": source})

    def elements(self, project="default"):
        # type: (str) -> Any
        """The characters and products registered in ``project``."""
        return self.get("/elements", project=project)["elements"]

    def add_element(self, name, images, project="default", element_id=None, description=""):
        # type: (str, List[str], str, Optional[str], str) -> Any
        body = {"name": name, "images": list(images), "project": project,
                "description": description}  # type: Dict[str, Any]
        if element_id:
            body["element_id"] = element_id
        return self.post("/elements", body)

    def rename_element(self, element_id, name):
        # type: (str, str) -> Any
        return self.post("/elements/%s/rename" % element_id, {"name": name})

    def remove_element(self, element_id):
        # type: (str) -> Any
        return self._request("DELETE", API + "/elements/" + element_id)

    def events(self, batch=None, timeout=60.0):
        # type: (Optional[str], float) -> Iterator[Tuple[str, Any]]
        """Yield (event, data) from the server-sent event stream until it closes."""
        path = API + "/events" + ("?batch=" + batch if batch else "")
        req = urllib.request.Request(self.url + path, headers={
            "Authorization": "Bearer " + self.token, "Accept": "text/event-stream"})
        try:
            resp = self._opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None
        except (socket.timeout, urllib.error.URLError, ConnectionError) as exc:
            raise BridgeError("unreachable", "cannot reach the daemon (%s)" % exc) from None
        event = "message"
        data = []  # type: List[str]
        with resp:
            for raw in resp:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        yield event, json.loads("\n".join(data))
                    event = "message"
                    data = []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())

    def wait_batch(self, batch_id, on_update=None, timeout=None, interval=1.0):
        # type: (str, Optional[Callable[[Dict[str, Any]], None]], Optional[float], float) -> Any
        """Poll until every job of the batch has ended; return the final batch answer.

        Polling (not the event stream) keeps this usable from hosts whose scripts must
        return to their UI loop between checks.
        """
        deadline = None if timeout is None else time.time() + timeout
        while True:
            batch = self.batch(batch_id)
            if on_update is not None:
                on_update(batch)
            if batch["state"] not in ("running",):
                return batch
            if deadline is not None and time.time() > deadline:
                raise BridgeError("timeout", "the batch is still running after %ss" % timeout,
                                  "it keeps running in the daemon; check again later")
            time.sleep(interval)


def _quote(value):
    # type: (str) -> str
    return urllib.parse.quote(value, safe=",")


def _error_from(exc):
    # type: (urllib.error.HTTPError) -> BridgeError
    try:
        body = json.loads(exc.read().decode("utf-8"))
        err = body.get("error", {})
        return BridgeError(err.get("code", "http_%d" % exc.code), err.get("message", str(exc)),
                           err.get("hint", ""), exc.code)
    except (ValueError, AttributeError, OSError):
        return BridgeError("http_%d" % exc.code, "the daemon answered %d" % exc.code,
                           status=exc.code)
