"""An install plan: the files to write and the commands to run, as plain data.

Planning is pure: components (service, Resolve, Blender) turn a :class:`Layout` and the
plugin sources into a :class:`Plan`; ``--dry-run`` prints it; :mod:`.apply` carries it out
and records what it wrote in the manifest. Because a plan is data, a test can check every
byte that would land on a Windows machine without a Windows machine.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

COMPONENTS: tuple[str, ...] = ("service", "resolve", "blender")
Component = str
When = Literal["always", "changed"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class WriteFile:
    """Put exactly these bytes at ``path`` (atomically: temp name, then rename)."""

    path: Path
    data: bytes
    component: Component
    mode: int = 0o644

    @property
    def digest(self) -> str:
        return sha256(self.data)


@dataclass(frozen=True)
class Symlink:
    """A link we own (systemd's ``default.target.wants`` entry); ``target`` as written."""

    path: Path
    target: str
    component: Component


@dataclass(frozen=True)
class Command:
    """A program to run after the files are in place.

    ``when="changed"`` runs it only if a file of its component was written this time (so a
    second install runs nothing that reloads or reinstalls); ``optional`` commands may fail
    (no user systemd here, Blender refused) with ``fail_note`` printed instead of an error,
    or silently when the note is empty (unloading an agent that was not loaded).
    """

    argv: tuple[str, ...]
    why: str
    component: Component
    when: When = "always"
    optional: bool = False
    fail_note: str = ""
    #: For undo commands: run before the files go (stop a service) or after (reload).
    after_removal: bool = False

    def shell(self) -> str:
        return " ".join(shlex.quote(a) for a in self.argv)


Action = WriteFile | Symlink


@dataclass(frozen=True)
class Plan:
    """Everything one install would do. ``undo`` are the commands uninstall runs first."""

    actions: tuple[Action, ...] = ()
    commands: tuple[Command, ...] = ()
    undo: tuple[Command, ...] = ()
    #: Folders that must exist (the service's log folder); removed on uninstall if empty.
    ensure_dirs: tuple[tuple[Path, Component], ...] = ()
    notes: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()

    def __add__(self, other: Plan) -> Plan:
        return Plan(
            self.actions + other.actions,
            self.commands + other.commands,
            self.undo + other.undo,
            tuple(dict.fromkeys(self.ensure_dirs + other.ensure_dirs)),
            self.notes + other.notes,
            tuple(dict.fromkeys(self.components + other.components)),
        )

    def paths(self) -> list[Path]:
        return [a.path for a in self.actions]


def combine(plans: Iterable[Plan]) -> Plan:
    total = Plan()
    for p in plans:
        total = total + p
    return total


@dataclass
class Outcome:
    """What applying (or dry-running) a plan did, line by line, for people and ``--json``."""

    dry_run: bool
    lines: list[tuple[str, str, str]] = field(default_factory=list)  # (component, verb, what)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, component: str, verb: str, what: str) -> None:
        self.lines.append((component, verb, what))

    def changed(self) -> bool:
        """Whether a file or folder was (or would be) touched; commands do not count."""
        return any(v not in ("unchanged", "run") for _, v, _ in self.lines)

    def verbs(self) -> list[str]:
        return [v for _, v, _ in self.lines]

    def as_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "steps": [{"component": c, "action": v, "target": w} for c, v, w in self.lines],
            "notes": self.notes,
            "failures": self.failures,
        }

    def render(self, title: str) -> str:
        head = f"{title} (dry run: nothing written, nothing run)" if self.dry_run else title
        width = max((len(v) for _, v, _ in self.lines), default=0)
        out = [head]
        out += [f"  {c:<8} {v:<{width}}  {w}" for c, v, w in self.lines]
        out += [f"  ! {f}" for f in self.failures]
        out += [f"  - {n}" for n in self.notes]
        return "\n".join(out)


def describe_command(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
