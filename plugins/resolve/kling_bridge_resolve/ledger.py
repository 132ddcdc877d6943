"""The batches a project is waiting for, remembered between script runs.

A Scripts-menu script is its own short-lived process: when it stops waiting, the daemon
keeps working, and whatever finishes -- even while Resolve is closed -- must still land on
the timeline. So every submitted batch is written here (``resolve-batches.json`` in the
config folder, keyed by the project's unique id) with what the plugin needs to put each
result back: the item each restyle came from, where each B-roll goes, take or track. Any
later run of any Kling Bridge script in that project applies what has finished and records
each job's outcome, so nothing is applied twice or forgotten.

Writes go through a temp file and a rename: a crash leaves the old file or the new one.
"""

import json
import os
import time
from typing import Any, Dict, List, Optional  # noqa: F401 (type comments)

from .client import config_dir

FILE_NAME = "resolve-batches.json"
VERSION = 1


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
        folder = os.path.dirname(self.path)
        if folder and not os.path.isdir(folder):
            os.makedirs(folder)
        temp = self.path + ".tmp"
        with open(temp, "w", encoding="utf-8") as fh:
            json.dump(self.data, fh, indent=1, sort_keys=True)
        os.replace(temp, self.path)

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

    def open_batches(self, key):
        # type: (str) -> List[Dict[str, Any]]
        entry = self.data["projects"].get(key) or {}
        return [b for b in entry.get("batches", []) if not b.get("closed")]

    def record(self, key, batch_id, job_id, outcome):
        # type: (str, str, str, str) -> None
        """What happened to one job's result; saved at once (a crash must not re-apply)."""
        for batch in self.open_batches(key):
            if batch["batch_id"] == batch_id:
                batch["outcomes"][job_id] = outcome
        self.save()

    def close(self, key, batch_id, why="done"):
        # type: (str, str, str) -> None
        for batch in self.open_batches(key):
            if batch["batch_id"] == batch_id:
                batch["closed"] = True
                batch["closed_because"] = why
        self.save()
