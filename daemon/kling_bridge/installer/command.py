"""The ``install`` and ``uninstall`` verbs of the command line (parsers and handlers).

Kept here rather than in ``cli.py`` so the CLI only wires them in; the handlers print the
plan's lines, the notes (what to do next) and failures, and return the CLI's exit codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ..config import Paths
from .apply import InstallError
from .layout import LayoutError
from .manifest import ManifestError
from .plan import COMPONENTS, Outcome
from .verbs import do_install, do_uninstall

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
HELP = {
    "service": "the daemon as a per-user service started at login",
    "resolve": "the DaVinci Resolve scripts (Workspace > Scripts)",
    "blender": "the Blender extension (Sequencer)",
}


def add_parsers(cmd: Callable[[str, str], argparse.ArgumentParser]) -> None:
    ins = cmd("install", "put the daemon service, the Resolve scripts and the Blender "
              "extension in place (all of them unless some are named)")
    un = cmd("uninstall", "remove exactly what install put in place")
    for sp in (ins, un):
        for comp in COMPONENTS:
            sp.add_argument(f"--{comp}", action="store_true",
                           help=HELP[comp] + " (default: all parts when none is named)")
        sp.add_argument("--all", action="store_true", help="all of the above (the default)")
        sp.add_argument("--dry-run", action="store_true",
                        help="print every file it would write or remove and every command it "
                        "would run; change nothing (default: do it)")
    un.add_argument("--purge", action="store_true",
                    help="also delete the bridge's settings, job database, cache and logs "
                    "(results your timelines use are kept; default: keep them all)")


def chosen(args: argparse.Namespace) -> list[str]:
    picked = [c for c in COMPONENTS if getattr(args, c, False)]
    return list(COMPONENTS) if args.all or not picked else picked


def cmd_install(args: argparse.Namespace, paths: Paths) -> int:
    try:
        out = do_install(chosen(args), dry_run=args.dry_run)
    except (InstallError, ManifestError, LayoutError) as exc:
        return _error(exc)
    _show(args, out, "kling-bridge install")
    if not args.dry_run and not args.json and not out.failures:
        _offer_login(paths)
    return EXIT_FAILED if out.failures else EXIT_OK


def cmd_uninstall(args: argparse.Namespace, paths: Paths) -> int:
    picked = [c for c in COMPONENTS if getattr(args, c, False)]
    try:
        out = do_uninstall(None if args.all else picked or None, dry_run=args.dry_run,
                           purge=args.purge)
    except (InstallError, ManifestError, LayoutError) as exc:
        return _error(exc)
    _show(args, out, "kling-bridge uninstall")
    return EXIT_FAILED if out.failures else EXIT_OK


def _show(args: argparse.Namespace, out: Outcome, title: str) -> None:
    if args.json:
        print(json.dumps(out.as_json(), indent=2))
    else:
        print(out.render(title))


def _error(exc: Any) -> int:
    hint = getattr(exc, "hint", "")
    message = getattr(exc, "message", str(exc))
    print(f"kling-bridge: {message}" + (f"\n  what to do: {hint}" if hint else ""),
          file=sys.stderr)
    return EXIT_USAGE


def _offer_login(paths: Paths) -> None:
    """Kling needs an account; the draft provider does not. Ask only a person at a terminal."""
    from ..credentials import CredentialError, load_credential

    try:
        configured = load_credential(paths).configured
    except CredentialError:
        configured = False
    if configured:
        return
    print("Kling credentials: none yet. The draft provider works offline without them; to "
          "use Kling run 'kling-bridge login'.")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    try:
        answer = input("Store a Kling API key now? [y/N] ").strip().lower()
    except EOFError:
        return
    if answer in ("y", "yes"):
        from ..cli import main as cli_main

        cli_main(["login"])
