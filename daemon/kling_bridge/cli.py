"""``kling-bridge``: the same verbs as the API, for people and scripts.

``restyle`` and ``generate`` talk to the running daemon; with none running they start one in
this process (on a free port, gone when the command ends) so a script needs nothing else.
``--json`` prints machine-readable answers; ``--wait`` shows progress on stderr and exits
non-zero when a job failed. Exit codes: 0 ok, 1 a job failed or a check failed,
2 bad usage or a refused request, 3 no daemon running (status).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .cli_output import Progress, export_to, print_jobs
from .client import BridgeClient, BridgeError
from .config import ConfigError, Paths, Settings, load_settings
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


class CliError(Exception):
    def __init__(self, message: str, hint: str = "", code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kling-bridge",
        description="Kling video models from your editing timeline (restyle with O3, "
        "generate with 3.0).",
    )
    p.add_argument("--version", action="version", version=f"kling-bridge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        return sp

    s = cmd("serve", "run the daemon in the foreground")
    s.add_argument("--port", type=int, help="listen port (0: any free port)")
    s.add_argument("--provider", choices=["draft", "kling"], help="default provider")
    s.add_argument("--media-host", help="s3://bucket/prefix or https://public.example/")

    cmd("status", "is the daemon running, with which provider and credential source")
    cmd("doctor", "check ffmpeg, keyring, credentials, disk, database, daemon, provider")

    j = cmd("jobs", "list jobs")
    j.add_argument("--state", help="comma-separated states (queued,running,failed,...)")
    j.add_argument("--batch", help="one batch's jobs")
    j.add_argument("--limit", type=int, default=30)

    for name, help_ in (("cancel", "cancel a job (sent tasks stay paid)"),
                        ("retry", "retry a failed, cancelled or unresolved job")):
        c = cmd(name, help_)
        c.add_argument("job_id")

    lg = cmd("login", "store Kling credentials in the system keyring")
    lg.add_argument("--from-stdin", action="store_true",
                    help="read the key (or 'AK:SK', or JSON) from standard input")
    lg.add_argument("--access-key", action="store_true",
                    help="prompt for an access key + secret key pair instead of an API key")
    lg.add_argument("--insecure-file", action="store_true",
                    help="no keyring here: keep them in a 0600 file in the config folder")
    cmd("logout", "remove stored Kling credentials")

    def job_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--provider", choices=["draft", "kling"], help="draft (free) or kling")
        sp.add_argument("--resolution", choices=["720p", "1080p", "4k"], default="1080p")
        sp.add_argument("--variants", type=int, default=1)
        sp.add_argument("--out", type=Path, help="copy results into this folder")
        sp.add_argument("--wait", action="store_true", help="wait and show progress")
        sp.add_argument("--dry-run", action="store_true", help="show the price, create nothing")
        sp.add_argument("--media-host", help="for an in-process daemon: where Kling fetches clips")

    r = cmd("restyle", "restyle a clip or a timeline's selected clips (Kling O3)")
    r.add_argument("input", type=Path, help="media file, or a timeline (otio, otioz, xml, "
                   "fcpxml, edl)")
    r.add_argument("--preset", action="append", default=[], help="look preset id (repeatable)")
    r.add_argument("--prompt", help="free words for the look (with or without a preset)")
    r.add_argument("--select", action="append", default=[],
                   help="all | marked | color:NAME,... | track:NAME,... | range:IN-OUT | "
                   "marker:TEXT (timelines; default: marked)")
    r.add_argument("--handles", type=int, default=12, help="frames of handles each side")
    r.add_argument("--start", type=int, help="first frame (media files)")
    r.add_argument("--frames", type=int, help="frame count (media files)")
    r.add_argument("--no-audio", action="store_true", help="drop the clip's own sound")
    r.add_argument("--format", help="result timeline format (default: the input's)")
    job_options(r)

    g = cmd("generate", "generate a clip from words or a picture (Kling 3.0)")
    g.add_argument("--prompt", default="")
    g.add_argument("--image", type=Path, help="first frame (image to video)")
    g.add_argument("--shot", action="append", default=[], metavar="SECONDS:WORDS",
                   help="multi-shot: one per cut, e.g. --shot '3:wide street at dusk'")
    g.add_argument("--duration", type=int, default=5)
    g.add_argument("--aspect", choices=["16:9", "9:16", "1:1"], default="16:9")
    g.add_argument("--audio", action="store_true", help="native generated sound")
    job_options(g)

    ls = cmd("lipsync", "make a face speak a dialogue clip")
    ls.add_argument("--audio", type=Path, required=True)
    ls.add_argument("--video", type=Path)
    ls.add_argument("--image", type=Path)
    ls.add_argument("--audio-start", type=float, default=0.0)
    ls.add_argument("--audio-end", type=float)
    job_options(ls)

    from .watch.command import add_arguments as watch_arguments

    watch_arguments(cmd("watch", "watch a folder: drop clips, timelines or prompts in, "
                                 "results come out (for any editor)"))

    d = cmd("demo", "offline demo: sample footage, a restyle and a B-roll, result timeline")
    d.add_argument("--out", type=Path, help="where to write the demo (default: ./kling-demo)")

    from .installer.command import add_parsers as add_install_parsers

    add_install_parsers(cmd)  # install, uninstall
    return p


# ---------------------------------------------------------------- helpers


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text)


def settings_for(args: argparse.Namespace) -> Settings:
    overrides = {
        "provider": getattr(args, "provider", None),
        "server.port": getattr(args, "port", None),
        "hosting.media_host": getattr(args, "media_host", None),
    }
    try:
        return load_settings(overrides=overrides)
    except ConfigError as exc:
        raise CliError(str(exc), "fix the file or the environment variable named") from exc


def connect(paths: Paths) -> BridgeClient | None:
    """The running daemon, or None when there is none (or it does not answer)."""
    try:
        client = BridgeClient.discover(str(paths.discovery_file), timeout=30)
        client.health()
        return client
    except BridgeError:
        return None


# ---------------------------------------------------------------- commands


def cmd_serve(args: argparse.Namespace, paths: Paths) -> int:
    import asyncio

    from .daemon import DaemonError, run_daemon

    settings = settings_for(args)
    try:
        asyncio.run(run_daemon(settings, paths))
    except DaemonError as exc:
        raise CliError(exc.message, exc.hint) from exc
    return EXIT_OK


def cmd_status(args: argparse.Namespace, paths: Paths) -> int:
    client = connect(paths)
    if client is None:
        try:
            cred = describe(load_credential(paths))
        except CredentialError as exc:
            cred = {"configured": False, "source": f"error: {exc.message}"}
        watch = _watch_report(paths, False)
        emit(args, {"running": False, "credentials": cred, "watch": watch},
             f"kling-bridge daemon: not running\ncredentials: {_cred_line(cred)}\n"
             "start it with: kling-bridge serve" + _watch_lines(watch))
        return EXIT_NOT_RUNNING
    h = client.health()
    held = [p["name"] for p in h["providers"] if p.get("held")]
    lines = [
        f"kling-bridge {h['version']}: running at {client.url}",
        f"provider: {h['provider']} (available: {', '.join(p['name'] for p in h['providers'])})",
        f"credentials: {_cred_line(h['credentials'])}",
        "jobs: " + (", ".join(f"{k} {v}" for k, v in sorted(h["queue"].items())) or "none"),
    ]
    if held:
        lines.append(f"held (paid work paused): {', '.join(held)}")
    watch = _watch_report(paths, True)
    emit(args, {"running": True, "url": client.url, **h, "watch": watch},
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
                       "start it with 'kling-bridge serve'", EXIT_NOT_RUNNING)
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
         f"restart the daemon to use it")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace, paths: Paths) -> int:
    removed = delete_credential(paths)
    emit(args, {"removed": removed},
         f"removed from: {', '.join(removed)}" if removed else "no stored credentials")
    return EXIT_OK


def _timeline_suffix(path: Path) -> bool:
    return path.suffix.lower() in {".otio", ".otioz", ".otiod", ".xml", ".fcpxml", ".fcpxmld",
                                   ".edl", ".aaf", ".ale"}


def restyle_body(args: argparse.Namespace) -> dict[str, Any]:
    src = args.input.expanduser().resolve()
    if not src.exists():
        raise CliError(f"{args.input}: no such file", "check the path")
    looks = [{"preset": p, "prompt": args.prompt} for p in args.preset] or [
        {"preset": None, "prompt": args.prompt}]
    body: dict[str, Any] = {
        "looks": looks, "variants": args.variants, "resolution": args.resolution,
        "keep_audio": not args.no_audio, "provider": args.provider, "dry_run": args.dry_run,
        "select": {"handles": args.handles},
    }
    if _timeline_suffix(src):
        body["timeline_path"] = str(src)
        mode, values, rng = _select(args.select)
        body["select"].update({"mode": mode, "values": values, "range": rng})
    else:
        body["clips"] = [{"path": str(src), "start_frame": args.start, "frame_count": args.frames}]
    return body


def _select(selectors: Sequence[str]) -> tuple[str, list[str], list[str] | None]:
    if not selectors:
        return "marked", [], None
    if len(selectors) > 1:
        raise CliError("give one --select", "e.g. --select color:Orange,Teal")
    kind, _, arg = selectors[0].partition(":")
    kind = {"colour": "color", "selected": "marked"}.get(kind.lower(), kind.lower())
    if kind not in ("all", "marked", "color", "track", "range", "marker"):
        raise CliError(f"unknown selection {selectors[0]!r}",
                       "use all, marked, color:NAMES, track:NAMES, range:IN-OUT, marker:TEXT")
    if kind == "range":
        start, sep, end = arg.partition("-")
        if not sep:
            raise CliError("range needs IN-OUT", "frames (240-480) or timecodes")
        return "range", [], [start, end]
    return kind, [v for v in arg.split(",") if v], None


def generate_body(args: argparse.Namespace) -> dict[str, Any]:
    shots = []
    for shot in args.shot:
        secs, sep, words = shot.partition(":")
        if not sep or not secs.strip().isdigit():
            raise CliError(f"bad --shot {shot!r}", "write it as SECONDS:WORDS, e.g. '4:a street'")
        shots.append({"duration": int(secs), "prompt": words.strip()})
    image = str(args.image.expanduser().resolve()) if args.image else None
    return {"prompt": args.prompt, "image": image, "shots": shots, "duration": args.duration,
            "aspect_ratio": args.aspect, "resolution": args.resolution, "audio": args.audio,
            "variants": args.variants, "provider": args.provider, "dry_run": args.dry_run}


def lipsync_body(args: argparse.Namespace) -> dict[str, Any]:
    def path(p: Path | None) -> str | None:
        return str(p.expanduser().resolve()) if p else None

    return {"audio": path(args.audio), "video": path(args.video), "image": path(args.image),
            "audio_start": args.audio_start, "audio_end": args.audio_end,
            "resolution": args.resolution, "provider": args.provider, "dry_run": args.dry_run}


def cmd_submit(args: argparse.Namespace, paths: Paths) -> int:
    body = {"restyle": restyle_body, "generate": generate_body,
            "lipsync": lipsync_body}[args.command](args)
    client = connect(paths)
    if client is not None:
        if args.media_host:
            print("note: --media-host applies to a daemon started by this command; the running "
                  "daemon uses its own configuration", file=sys.stderr)
        return _submit_and_follow(args, client, body)
    from .inprocess import InProcessDaemon

    settings = settings_for(args)
    with InProcessDaemon(settings, paths) as client:
        if not args.dry_run and not args.wait:
            print("no daemon is running: started one in this process; waiting for the "
                  "result (use 'kling-bridge serve' to submit and leave)", file=sys.stderr)
            args.wait = True
        return _submit_and_follow(args, client, body)


def _submit_and_follow(args: argparse.Namespace, client: BridgeClient,
                       body: dict[str, Any]) -> int:
    answer = getattr(client, args.command)(body)
    est = answer["estimate"]
    price = (
        "free (draft)" if answer["draft"] else f"about {est['units']:g} units (US${est['usd']:.2f})"
    )
    if args.dry_run:
        emit(args, answer, f"{len(answer.get('jobs', [])) or 'the'} job(s) would cost {price}")
        return EXIT_OK
    lines = [f"batch {answer['batch_id']}: {len(answer['jobs'])} job(s) on "
             f"{answer['provider']}, {price}"]
    lines += [f"  skipped {s['name']}: {s['reason']}" for s in answer.get("skipped", [])]
    lines += [f"  note: {n}" for n in answer.get("notes", [])]
    if not args.wait:
        lines += [f"  {j['id']}  {j['label']}" for j in answer["jobs"]]
        emit(args, answer, "\n".join(lines))
        return EXIT_OK
    if not args.json:
        print("\n".join(lines), file=sys.stderr)
    progress = Progress(sys.stderr, enabled=not args.json)
    final = client.wait_batch(answer["batch_id"], on_update=progress.update, interval=0.5)
    progress.close()
    written: list[str] = []
    if args.out is not None:
        written = export_to(client, final["batch_id"], args.out, getattr(args, "format", None))
    failed = [j for j in final["jobs"] if j["state"] != "succeeded"]
    text = [f"batch {final['batch_id']}: {final['state']} (spent {final['billed']['units']:g} "
            f"units)"]
    for j in final["jobs"]:
        if j["state"] == "succeeded":
            video = next((o["path"] for o in j["result"]["outputs"] if o["role"] == "video"), "")
            text.append(f"  ok   {j['label']}: {video}")
        else:
            err = j.get("error") or {}
            text.append(f"  {j['state']}  {j['label']}: {err.get('message', '')}"
                        + (f" ({err['hint']})" if err.get("hint") else ""))
    text += [f"  wrote {w}" for w in written]
    emit(args, {**final, "written": written}, "\n".join(text))
    return EXIT_FAILED if failed else EXIT_OK


def cmd_watch(args: argparse.Namespace, paths: Paths) -> int:
    from .watch.command import WatchCommandError, run

    try:
        return run(args, paths)
    except WatchCommandError as exc:
        raise CliError(exc.message, exc.hint) from exc


def cmd_demo(args: argparse.Namespace, paths: Paths) -> int:
    from .demo import run_demo

    code: int = run_demo(paths, (args.out or Path("kling-demo")).resolve(), as_json=args.json)
    return code


def _install_verb(args: argparse.Namespace, paths: Paths) -> int:
    from .installer import command

    verb = command.cmd_install if args.command == "install" else command.cmd_uninstall
    return verb(args, paths)


COMMANDS = {
    "serve": cmd_serve, "status": cmd_status, "doctor": cmd_doctor, "jobs": cmd_jobs,
    "cancel": cmd_cancel_retry, "retry": cmd_cancel_retry, "login": cmd_login,
    "logout": cmd_logout, "restyle": cmd_submit, "generate": cmd_submit, "lipsync": cmd_submit,
    "demo": cmd_demo, "watch": cmd_watch,
    "install": _install_verb, "uninstall": _install_verb,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    paths = Paths.resolve().ensure()
    try:
        code: int = COMMANDS[args.command](args, paths)
        return code
    except (CliError, CredentialError, BridgeError) as exc:
        code = getattr(exc, "code", EXIT_USAGE)
        exit_code = code if isinstance(code, int) else (
            EXIT_NOT_RUNNING if code in ("not_running", "unreachable") else EXIT_USAGE)
        hint = getattr(exc, "hint", "")
        print(f"kling-bridge: {exc.message}" + (f"\n  what to do: {hint}" if hint else ""),
              file=sys.stderr)
        return exit_code
    except KeyboardInterrupt:
        print("interrupted: jobs already submitted keep running in the daemon", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
