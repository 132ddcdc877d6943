"""Carry out a plan (or show it), and undo exactly what an earlier install did.

Rules that keep an editor's machine safe:

- A file is written under a temp name and renamed, so a crash never leaves half a script.
- Identical bytes are left alone: a second install writes nothing and runs no
  ``when="changed"`` command.
- A file at one of our paths that we did not write (or that someone edited since) is moved
  aside to ``NAME.before-kling-bridge``, never overwritten; uninstall puts it back.
- Uninstall removes a file only while it holds the bytes we wrote, and a folder only if we
  created it and it is empty.

Commands go through a ``Runner`` (argv in, exit code and output out), so the tests drive
``launchctl``/``systemctl``/``blender`` stand-ins where the real ones cannot run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .. import __version__
from ..atomic import atomic_output, write_bytes
from . import manifest as mf
from .layout import Layout
from .plan import Command, Outcome, Plan, Symlink, WriteFile, sha256

Runner = Callable[[Sequence[str]], tuple[int, str]]
ASIDE_SUFFIX = ".before-kling-bridge"


def run_subprocess(argv: Sequence[str]) -> tuple[int, str]:
    """The real runner: a program, its exit code and its words (never raises)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        return 127, f"{argv[0]}: not found"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 126, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


class InstallError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# ---------------------------------------------------------------- reading what is there


def _state(path: Path, entry: mf.Entry | None) -> str:
    """missing | ours (bytes/target as recorded) | foreign (someone else's, or edited)."""
    if not os.path.lexists(path):
        return "missing"
    if entry is not None:
        if entry.kind == "symlink":
            if path.is_symlink() and os.readlink(path) == entry.target:
                return "ours"
        elif not path.is_symlink() and path.is_file() and _digest(path) == entry.sha256:
            return "ours"
    if path.is_dir() and not path.is_symlink():
        raise InstallError(f"{path} is a folder where kling-bridge installs a file",
                           "move the folder away, then run the command again")
    return "foreign"


def _digest(path: Path) -> str:
    try:
        return sha256(path.read_bytes())
    except OSError:
        return ""


def _same(action: WriteFile | Symlink) -> bool:
    p = action.path
    if isinstance(action, Symlink):
        return p.is_symlink() and os.readlink(p) == action.target
    return (not p.is_symlink() and p.is_file() and p.stat().st_size == len(action.data)
            and p.read_bytes() == action.data)


def _aside_name(path: Path) -> Path:
    candidate = path.with_name(path.name + ASIDE_SUFFIX)
    n = 1
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.name}{ASIDE_SUFFIX}.{n}")
    return candidate


def _missing_parents(path: Path) -> list[Path]:
    out: list[Path] = []
    p = path.parent
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return list(reversed(out))


def _write(action: WriteFile | Symlink) -> None:
    if isinstance(action, Symlink):
        with atomic_output(action.path) as tmp:
            os.symlink(action.target, tmp)
    else:
        write_bytes(action.path, action.data, mode=action.mode)


# ---------------------------------------------------------------- install


def install(plan: Plan, layout: Layout, *, dry_run: bool = False,
            runner: Runner = run_subprocess) -> Outcome:
    """Write the plan's files, run its commands, record it all in the manifest."""
    out = Outcome(dry_run=dry_run)
    record = mf.load(layout.manifest_file)
    changed: set[str] = set()
    planned = {str(a.path) for a in plan.actions}

    if not dry_run:
        for d, comp in plan.ensure_dirs:
            for made in _missing_parents(d / "x"):
                made.mkdir()
                record.dirs.setdefault(str(made), comp)

    for action in plan.actions:
        key, comp = str(action.path), action.component
        entry = record.files.get(key)
        if _same(action):
            out.add(comp, "unchanged", key)
            if entry is None or entry.component != comp:  # adopt an identical file
                record.files[key] = _entry(action, entry)
            continue
        state = _state(action.path, entry)
        aside = ""
        if state == "foreign":
            aside = str(_aside_name(action.path))
            out.add(comp, "move aside", f"{key} -> {aside} (not written by kling-bridge)")
        out.add(comp, "write" if state == "missing" else "update", key)
        changed.add(comp)
        if dry_run:
            continue
        for d in _missing_parents(action.path):
            d.mkdir()
            record.dirs[str(d)] = comp
        if aside:
            os.replace(action.path, aside)
        _write(action)
        new = _entry(action, entry)
        if aside:
            new.moved_aside = aside
        record.files[key] = new

    # Files an earlier install of these components wrote that this version no longer has.
    emptied: set[str] = set()
    for key, entry in sorted(record.files.items()):
        if entry.component in plan.components and key not in planned:
            changed.add(entry.component)
            _remove_one(Path(key), entry, record, out, dry_run)
            emptied.update(str(p) for p in Path(key).parents)

    for cmd in plan.commands:
        if cmd.when == "changed" and cmd.component not in changed:
            continue
        _run(cmd, out, dry_run, runner)

    out.notes.extend(plan.notes)
    if not dry_run:
        record.undo = [c for c in record.undo if c.component not in plan.components]
        record.undo += list(plan.undo)
        _drop_empty_dirs(record, set(plan.components), out, dry_run=False, only=emptied)
        record.bridge_version = __version__
        mf.save(layout.manifest_file, record)
    return out


def _entry(action: WriteFile | Symlink, old: mf.Entry | None) -> mf.Entry:
    aside = old.moved_aside if old else ""
    if isinstance(action, Symlink):
        return mf.Entry(action.component, "symlink", target=action.target, moved_aside=aside)
    return mf.Entry(action.component, "file", sha256=action.digest, moved_aside=aside)


def _run(cmd: Command, out: Outcome, dry_run: bool, runner: Runner) -> None:
    out.add(cmd.component, "run", cmd.shell())
    if dry_run:
        return
    code, words = runner(cmd.argv)
    if code == 0:
        return
    detail = words.splitlines()[-1] if words else f"exit code {code}"
    if cmd.optional:  # an empty note: failing is normal (unloading what was not loaded)
        if cmd.fail_note and cmd.fail_note not in out.notes:
            out.notes.append(cmd.fail_note)
    else:
        out.failures.append(f"{cmd.why}: '{cmd.shell()}' failed ({detail})")


# ---------------------------------------------------------------- uninstall


def uninstall(layout: Layout, components: Iterable[str] | None = None, *,
              dry_run: bool = False, runner: Runner = run_subprocess) -> Outcome:
    """Undo the manifest's commands, remove its files and the folders it created."""
    out = Outcome(dry_run=dry_run)
    record = mf.load(layout.manifest_file)
    wanted = set(components) if components else record.components()
    if record.is_empty():
        out.notes.append("nothing is installed (no install record at "
                         f"{layout.manifest_file})")
        return out
    undo = [c for c in record.undo if c.component in wanted]
    for cmd in (c for c in undo if not c.after_removal):
        _run(cmd, out, dry_run, runner)
    for key, entry in sorted(record.files.items()):
        if entry.component in wanted:
            _remove_one(Path(key), entry, record, out, dry_run)
    if not dry_run:
        record.undo = [c for c in record.undo if c.component not in wanted]
        if not record.files and not record.undo:  # the record goes before its folder
            with contextlib.suppress(FileNotFoundError):
                layout.manifest_file.unlink()
    _drop_empty_dirs(record, wanted, out, dry_run)
    for cmd in (c for c in undo if c.after_removal):
        _run(cmd, out, dry_run, runner)
    if not dry_run:
        mf.save(layout.manifest_file, record)
    return out


def _remove_one(path: Path, entry: mf.Entry, record: mf.Manifest, out: Outcome,
                dry_run: bool) -> None:
    key = str(path)
    state = _state(path, entry) if os.path.lexists(path) else "missing"
    if state == "ours":
        out.add(entry.component, "remove", key)
        if not dry_run:
            path.unlink()
    elif state == "foreign":
        out.notes.append(f"kept {key}: it changed since kling-bridge wrote it")
    if entry.moved_aside and os.path.lexists(entry.moved_aside):
        if state == "foreign":
            out.notes.append(f"your earlier file is still at {entry.moved_aside}")
        else:
            out.add(entry.component, "restore", f"{entry.moved_aside} -> {key}")
            if not dry_run:
                os.replace(entry.moved_aside, path)
    if not dry_run:
        del record.files[key]


def _drop_empty_dirs(record: mf.Manifest, wanted: set[str], out: Outcome, dry_run: bool,
                     only: set[str] | None = None) -> None:
    """Remove folders we created, deepest first, when nothing is left in them.

    ``only``: just these (the folders of files an upgrade dropped), quietly keeping the rest.
    """
    quiet = only is not None
    for d in sorted(record.dirs, key=lambda s: s.count(os.sep), reverse=True):
        if record.dirs[d] not in wanted or (only is not None and d not in only):
            continue
        path = Path(d)
        if not path.is_dir():
            if not dry_run:
                del record.dirs[d]
            continue
        if dry_run:
            out.add(record.dirs[d], "remove folder", f"{d} (if empty)")
            continue
        try:
            _drop_bytecode(path)
            path.rmdir()
        except OSError:
            if not quiet:  # it holds the user's files now: theirs to keep, no longer ours
                out.notes.append(f"kept folder {d}: it holds files kling-bridge did not write")
                del record.dirs[d]
            continue
        if not quiet:
            out.add(record.dirs[d], "remove folder", d)
        del record.dirs[d]


def _drop_bytecode(folder: Path) -> None:
    """Python's ``__pycache__`` beside our modules is ours too (Resolve and Blender make it)."""
    cache = folder / "__pycache__"
    if cache.is_dir() and not cache.is_symlink():
        pyc = list(cache.iterdir())
        if all(p.suffix == ".pyc" and p.is_file() for p in pyc):
            for p in pyc:
                p.unlink()
            cache.rmdir()
