"""``kling-bridge``: the same verbs as the API, for people and scripts.

``restyle`` and ``generate`` talk to the running daemon; with none running they start one in
this process (on a free port, gone when the command ends) so a script needs nothing else.
``--json`` prints machine-readable answers (refusals too: ``{"error": {...}}`` on stdout);
``--wait`` shows progress on stderr and exits non-zero when a job failed. Exit codes: 0 ok,
1 a job failed or a check failed, 2 bad usage or a refused request, 3 no daemon running.

It speaks to people: every refusal names the flag, the range and the unit, and what to do;
nothing is sent (let alone paid) before the options and the ``--out`` folder are checked;
no traceback reaches the terminal (``KLING_BRIDGE_DEBUG=1`` shows one, for bug reports).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from . import cli_chains as chain_options
from .cli_checks import Asked, CliError, asked_provider, in_cli_words, no_credential
from .cli_output import emit, print_jobs
from .cli_parser import Parser, build_parser
from .cli_submit import cmd_submit, connect, credential_configured, settings_for
from .client import BridgeClient, BridgeError
from .config import Paths, load_settings
from .credentials import (
    CredentialError,
    delete_credential,
    describe,
    keyring_status,
    load_credential,
    parse_login_input,
    store_credential,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING = 0, 1, 2, 3
__all__ = ["COMMANDS", "Parser", "build_parser", "main"]  # build_parser: tests, tools


# ---------------------------------------------------------------- helpers


def cmd_serve(args: argparse.Namespace, paths: Paths) -> int:
    import asyncio

    from .daemon import DaemonError, Running, run_daemon

    settings = settings_for(args)

    def announce(running: Running) -> None:
        info = {"url": running.url, "provider": settings.provider, "pid": os.getpid(),
                "config_dir": str(paths.config_dir), "log_file": str(paths.log_file)}
        emit(args, info,
             f"kling-bridge {__version__} listening on {running.url} "
             f"(provider {settings.provider}, pid {os.getpid()})\n"
             f"config folder: {paths.config_dir}\nlog: {paths.log_file}\n"
             "stop it with Ctrl-C or `kling-bridge stop`")
        sys.stdout.flush()

    try:
        asyncio.run(run_daemon(settings, paths, on_ready=announce))
    except DaemonError as exc:
        if (settings.provider == "kling" and "credential" in exc.message
                and not credential_configured(paths)):
            raise no_credential(asked_provider(args.provider, paths)
                                or Asked("kling", "config")) from None
        raise CliError(exc.message, exc.hint, reason="daemon") from exc
    return EXIT_OK


def cmd_stop(args: argparse.Namespace, paths: Paths) -> int:
    """SIGTERM to the pid in the discovery file; the daemon finishes what it must (a paid
    create in flight keeps its answer) and removes the file."""
    import signal
    import time

    from .api.discovery import read_discovery

    data = read_discovery(paths.discovery_file) or {}
    pid = int(data.get("pid") or 0)
    if not pid or not _running(pid):
        emit(args, {"running": False, "stopped": False}, "kling-bridge daemon: not running")
        return EXIT_NOT_RUNNING
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError as exc:
        raise CliError(f"cannot stop the daemon (pid {pid}): {exc.strerror}",
                       "stop it as the user that started it", reason="stop_failed") from None
    deadline = time.monotonic() + 30
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _running(pid):
        raise CliError(f"the daemon (pid {pid}) is still stopping after 30 s",
                       "it may be waiting for a paid create's answer; run kling-bridge stop "
                       "again in a minute", code=EXIT_FAILED, reason="stop_slow")
    emit(args, {"running": False, "stopped": True, "pid": pid},
         f"stopped the kling-bridge daemon (pid {pid}); queued jobs resume when it starts "
         "again (kling-bridge serve)")
    return EXIT_OK


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its parent has not reaped yet)."""
    from .api.discovery import pid_alive

    if not pid_alive(pid):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): alive as far as anyone can tell
    return state != "Z"


def cmd_status(args: argparse.Namespace, paths: Paths) -> int:
    client = connect(paths)
    folder = f"config folder: {paths.config_dir}"
    if client is None:
        try:
            cred = describe(load_credential(paths))
        except CredentialError as exc:
            cred = {"configured": False, "source": f"error: {exc.message}"}
        watch = _watch_report(paths, False)
        emit(args, {"running": False, "credentials": cred, "config_dir": str(paths.config_dir),
                    "watch": watch},
             f"kling-bridge daemon: not running\ncredentials: {_cred_line(cred)}\n{folder}\n"
             "start it with: kling-bridge serve" + _watch_lines(watch))
        return EXIT_NOT_RUNNING
    h = client.health()
    held = [p["name"] for p in h["providers"] if p.get("held")]
    lines = [
        f"kling-bridge {h['version']}: running at {client.url}",
        f"provider: {h['provider']} (available: {', '.join(p['name'] for p in h['providers'])})",
        f"credentials: {_cred_line(h['credentials'])}",
        "jobs: " + (", ".join(f"{k} {v}" for k, v in sorted(h["queue"].items())) or "none"),
        folder,
    ]
    if held:
        lines.append(f"held (paid work paused): {', '.join(held)}")
    watch = _watch_report(paths, True)
    emit(args, {"running": True, "url": client.url, "config_dir": str(paths.config_dir), **h,
                "watch": watch},
         "\n".join(lines) + _watch_lines(watch))
    return EXIT_OK


def _watch_report(paths: Paths, running: bool) -> list[dict[str, Any]]:
    from .watch.status import watch_report

    return watch_report(paths, running)


def _watch_lines(rows: list[dict[str, Any]]) -> str:
    from .watch.status import report_lines

    return "\n" + "\n".join(report_lines(rows))


def _cred_line(cred: dict[str, Any]) -> str:
    if not cred.get("configured"):
        source = cred.get("source", "none")
        why = "" if source == "none" else f" ({source})"
        return f"none configured{why}; the draft provider works offline"
    return f"{cred['kind']} from {cred['source']} ({cred['standard']} API standard)"


def cmd_doctor(args: argparse.Namespace, paths: Paths) -> int:
    from .doctor import checks_to_json, format_checks, run_checks_sync

    checks = run_checks_sync(None, paths, provider_check=_provider_check(paths))
    emit(args, checks_to_json(checks), format_checks(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED


def _provider_check(paths: Paths) -> Any:
    async def check() -> Any:
        from .daemon import build_providers
        from .providers.base import Reachability

        settings = load_settings()
        cred = load_credential(paths)
        try:
            providers = build_providers(settings, paths, cred)
        except Exception as exc:
            return Reachability(False, str(exc), getattr(exc, "hint", ""))
        provider = providers[settings.provider]
        try:
            return await provider.check()
        finally:
            for p in providers.values():
                await p.aclose()

    return check


def cmd_presets(args: argparse.Namespace, paths: Paths) -> int:
    from .media.errors import MediaError
    from .media.presets import load_presets

    try:
        menu = load_presets(paths.presets_dir).menu()
    except MediaError as exc:
        raise CliError(exc.message, exc.hint, reason="bad_preset") from None
    width = max((len(p["id"]) for p in menu), default=0)
    lines = [f"{p['id']:<{width}}  {p['name']}: {p['description']}" for p in menu]
    lines.append(f"(your own presets: {paths.presets_dir}/*.json)")
    emit(args, {"presets": menu}, "\n".join(lines))
    return EXIT_OK


def cmd_jobs(args: argparse.Namespace, paths: Paths) -> int:
    client = _require_daemon(paths)
    page = client.jobs(state=args.state, batch=args.batch, limit=args.limit)
    if args.json:
        emit(args, page, "")
    else:
        print_jobs(page["jobs"])
    return EXIT_OK


def cmd_cancel_retry(args: argparse.Namespace, paths: Paths) -> int:
    client = _require_daemon(paths)
    job = client.cancel(args.job_id) if args.command == "cancel" else client.retry(args.job_id)
    note = f"\n{job['note']}" if job.get("note") else ""
    emit(args, job, f"{job['id']}: {job['state']}{note}")
    return EXIT_OK


def _require_daemon(paths: Paths) -> BridgeClient:
    client = connect(paths)
    if client is None:
        raise CliError("the kling-bridge daemon is not running",
                       "start it with 'kling-bridge serve'", EXIT_NOT_RUNNING, "not_running")
    return client


def cmd_login(args: argparse.Namespace, paths: Paths) -> int:
    if args.from_stdin:
        cred = parse_login_input(sys.stdin.read())
    elif args.access_key:
        ak = getpass.getpass("Kling access key: ")
        sk = getpass.getpass("Kling secret key: ")
        cred = parse_login_input(f"{ak}\n{sk}")
    else:
        cred = parse_login_input(getpass.getpass("Kling API key: "))
    where = store_credential(cred, paths, allow_file=args.insecure_file)
    status = keyring_status()
    place = status.backend if where == "keyring" else str(paths.credentials_file)
    emit(args, {"stored": where, "kind": cred.kind, "standard": cred.standard},
         f"stored the Kling {cred.kind.replace('_', ' ')} in the {where} ({place}); "
         f"restart the daemon to use it (kling-bridge stop; kling-bridge serve)")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace, paths: Paths) -> int:
    removed = delete_credential(paths)
    emit(args, {"removed": removed},
         f"removed from: {', '.join(removed)}" if removed else "no stored credentials")
    return EXIT_OK


def cmd_watch(args: argparse.Namespace, paths: Paths) -> int:
    from .watch.command import WatchCommandError, run

    try:
        return run(args, paths)
    except WatchCommandError as exc:
        raise CliError(exc.message, exc.hint) from exc


def cmd_character(args: argparse.Namespace, paths: Paths) -> int:
    """Characters live in the daemon: the running one, or one started for this command."""
    client = connect(paths)
    if client is not None:
        return chain_options.cmd_character(args, client)
    from .inprocess import InProcessDaemon

    with InProcessDaemon(settings_for(args), paths) as here:
        return chain_options.cmd_character(args, here)


def cmd_demo(args: argparse.Namespace, paths: Paths) -> int:
    from .demo import run_demo

    code: int = run_demo(paths, (args.out or Path("kling-demo")).resolve(), as_json=args.json)
    return code


def _install_verb(args: argparse.Namespace, paths: Paths) -> int:
    from .installer import command

    verb = command.cmd_install if args.command == "install" else command.cmd_uninstall
    return verb(args, paths)


COMMANDS = {
    "serve": cmd_serve, "stop": cmd_stop, "status": cmd_status, "doctor": cmd_doctor,
    "presets": cmd_presets, "jobs": cmd_jobs, "cancel": cmd_cancel_retry,
    "retry": cmd_cancel_retry, "login": cmd_login, "logout": cmd_logout,
    "restyle": cmd_submit, "generate": cmd_submit, "lipsync": cmd_submit, "demo": cmd_demo,
    "watch": cmd_watch, "install": _install_verb, "uninstall": _install_verb,
    "character": cmd_character,
}


def _refuse(args: argparse.Namespace | None, code: str, message: str, hint: str) -> None:
    """A refusal: JSON on stdout with --json (scripts read one stream), else words on stderr."""
    if args is not None and getattr(args, "json", False):
        print(json.dumps({"error": {"code": code, "message": message, "hint": hint}}, indent=2))
    else:
        print(f"kling-bridge: {message}" + (f"\n  what to do: {hint}" if hint else ""),
              file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    Parser.json_refusals = "--json" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        paths = Paths.resolve().ensure()
        code: int = COMMANDS[args.command](args, paths)
        return code
    except CliError as exc:
        _refuse(args, exc.reason, exc.message, exc.hint)
        return exc.code
    except CredentialError as exc:
        _refuse(args, "credentials", exc.message, exc.hint)
        return EXIT_USAGE
    except BridgeError as exc:
        message, hint = in_cli_words(str(exc.code), exc.message, exc.hint, args.command)
        _refuse(args, str(exc.code), message, hint)
        return EXIT_NOT_RUNNING if exc.code in ("not_running", "unreachable") else EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: jobs already submitted keep running in the daemon", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, never a traceback
        # A timeline refusal (the module is loaded only when a timeline was touched: OTIO
        # costs a third of the CLI's start-up, so it is not imported just to catch this).
        timeline_errors = sys.modules.get("kling_bridge.timeline.errors")
        if timeline_errors is not None and isinstance(exc, timeline_errors.TimelineError):
            where = ": ".join(str(x) for x in (exc.path, exc.item) if x)
            _refuse(args, "bad_timeline", f"{where}: {exc.problem}" if where else exc.problem,
                    exc.hint or "")
            return EXIT_USAGE
        if os.environ.get("KLING_BRIDGE_DEBUG"):
            raise
        _refuse(args, "internal", f"unexpected error: {type(exc).__name__}: {exc}",
                "this is a bug in kling-bridge; run again with KLING_BRIDGE_DEBUG=1 to see "
                "where, and report it")
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
