"""The batches a project is waiting for, remembered between script runs.

A Scripts-menu script is its own short-lived process: when it stops waiting, the daemon
keeps working, and whatever finishes -- even while Resolve is closed -- must still land on
the timeline. So every submitted batch is written here (``resolve-batches.json`` in the
config folder, keyed by the project's unique id) with what the plugin needs to put each
result back: the item each restyle came from, where each B-roll goes, take or track. Any
later run of any Kling Bridge script in that project applies what has finished and records
each job's outcome, so nothing is applied twice or forgotten.

A submission is written here *before* it is sent, with the idempotency key it is sent with
(``begin``); its request body waits beside the ledger (``resolve-requests/<key>.json``)
until the daemon's answer is recorded (``sent``). If that answer is lost -- the connection
drops, the script is stopped -- the next run sends the same body with the same key, and the
daemon answers the batch the first send created instead of creating (and paying for) a
second one. A request the daemon refused created nothing and is forgotten (``drop``).

Writes go through a temp file and a rename: a crash leaves the old file or the new one.
"""

import contextlib
import json
import os
import time
import uuid
from typing import Any, Dict, List, Optional  # noqa: F401 (type comments)

from .client import config_dir

FILE_NAME = "resolve-batches.json"
REQUESTS = "resolve-requests"
VERSION = 1


def new_key():
    # type: () -> str
    """An idempotency key (the daemon accepts letters, digits and . _ : -)."""
    return "resolve:" + uuid.uuid4().hex


def _write_json(path, data, indent=1):
    # type: (str, Any, int) -> None
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        os.makedirs(folder)
    temp = path + ".tmp"
    with open(temp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=indent, sort_keys=True)
    os.replace(temp, path)


def ledger_path(env=None):
    # type: (Optional[Dict[str, str]]) -> str
    return os.path.join(config_dir(env), FILE_NAME)


class Ledger(object):
    """Batches per project. ``outcomes`` maps job id -> "applied" / "failed: ..." etc."""

    def __init__(self, path=None):
        # type: (Optional[str]) -> None
        self.path = path or ledger_path()
        self.data = self._read()

    def _read(self):
        # type: () -> Dict[str, Any]
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("projects"), dict):
            if os.path.exists(self.path):
                # unreadable: keep it for a human instead of overwriting what it remembers
                os.replace(self.path, self.path + ".unreadable-%d" % int(time.time()))
            data = {"version": VERSION, "projects": {}}
        return data

    def save(self):
        # type: () -> None
        _write_json(self.path, self.data)

    def _project(self, key, name=""):
        # type: (str, str) -> Dict[str, Any]
        projects = self.data["projects"]
        entry = projects.get(key)  # type: Dict[str, Any]
        if entry is None:
            entry = projects[key] = {"name": name, "batches": []}
        elif name:
            entry["name"] = name
        return entry

    def add(self, key, name, batch):
        # type: (str, str, Dict[str, Any]) -> None
        """Remember a submitted batch (``batch_id``, ``kind``, ``timeline``, targets...)."""
        batch = dict(batch)
        batch.setdefault("outcomes", {})
        batch.setdefault("closed", False)
        batch.setdefault("created", time.time())
        self._project(key, name)["batches"].append(batch)
        self.save()

    # ------------------------------------------------------------------ sending

    def _request_path(self, idem):
        # type: (str) -> str
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in idem)
        return os.path.join(os.path.dirname(self.path), REQUESTS, safe + ".json")

    def begin(self, key, name, path, body, entry):
        # type: (str, str, str, Dict[str, Any], Dict[str, Any]) -> Dict[str, Any]
        """Remember a submission about to be sent: ``entry`` (kind, timeline, targets...)
        with a fresh idempotency key and no batch id yet, and the body to send again."""
        idem = new_key()
        _write_json(self._request_path(idem), {"path": path, "body": body}, indent=0)
        entry = dict(entry, batch_id=None, key=idem)
        self.add(key, name, entry)
        return entry

    def request(self, entry):
        # type: (Dict[str, Any]) -> Optional[Dict[str, Any]]
        """The path and body of a submission whose answer was never recorded (None: gone)."""
        try:
            with open(self._request_path(entry["key"]), encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError, KeyError):
            return None
        return data if isinstance(data, dict) and "body" in data else None

    def sent(self, key, idem, batch_id, **extra):
        # type: (str, str, str, Any) -> Optional[Dict[str, Any]]
        """The daemon answered ``idem``'s submission with ``batch_id``: record it."""
        found = None
        for batch in self.open_batches(key):
            if batch.get("key") == idem:
                batch["batch_id"] = batch_id
                batch.update(extra)
                found = batch
        self.save()
        with contextlib.suppress(OSError):
            os.remove(self._request_path(idem))
        return found

    def drop(self, key, idem, why):
        # type: (str, str, str) -> None
        """The daemon refused ``idem``'s submission (it created nothing): forget it."""
        for batch in self.open_batches(key):
            if batch.get("key") == idem:
                batch["closed"] = True
                batch["closed_because"] = why
        self.save()
        with contextlib.suppress(OSError):
            os.remove(self._request_path(idem))

    # ------------------------------------------------------------------ batches

    def open_batches(self, key):
        # type: (str) -> List[Dict[str, Any]]
        entry = self.data["projects"].get(key) or {}
        return [b for b in entry.get("batches", []) if not b.get("closed")]

    def record(self, key, batch_id, job_id, outcome):
        # type: (str, str, str, str) -> None
        """What happened to one job's result; saved at once (a crash must not re-apply)."""
        for batch in self.open_batches(key):
            if batch_id and batch["batch_id"] == batch_id:
                batch["outcomes"][job_id] = outcome
        self.save()

    # ------------------------------------------------------------------ results

    def result(self, key, path, info):
        # type: (str, str, Dict[str, Any]) -> None
        """Remember which job made the file ``path`` (placed on the timeline), so a chain
        action on the clip showing it knows the job to follow."""
        results = self._project(key).setdefault("results", {})
        results[os.path.normcase(os.path.abspath(path))] = dict(info)
        self.save()

    def result_of(self, key, path):
        # type: (str, str) -> Optional[Dict[str, Any]]
        """The job that made ``path`` (a take or clip this plugin placed), or None."""
        if not path:
            return None
        results = (self.data["projects"].get(key) or {}).get("results") or {}
        found = results.get(os.path.normcase(os.path.abspath(path)))
        return dict(found) if isinstance(found, dict) else None

    def set_comparison(self, key, comparison):
        # type: (str, Dict[str, Any]) -> None
        self._project(key)["comparison"] = dict(comparison)
        self.save()

    def comparison(self, key):
        # type: (str) -> Optional[Dict[str, Any]]
        """The last comparison picture of the project: its batch, path and columns."""
        found = (self.data["projects"].get(key) or {}).get("comparison")
        return dict(found) if isinstance(found, dict) else None

    def close(self, key, batch_id, why="done"):
        # type: (str, str, str) -> None
        for batch in self.open_batches(key):
            if batch_id and batch["batch_id"] == batch_id:
                batch["closed"] = True
                batch["closed_because"] = why
        self.save()
