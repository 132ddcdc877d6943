"""``restyle``, ``generate`` and ``lipsync`` on the command line: check, send, follow.

The order is the promise: the options and the ``--out`` folder are checked first, then the
provider asked for is matched with the running daemon's (or a daemon is started in this
process), then -- with ``--out`` -- a dry run sizes the results against the free space,
and only then is anything created. A result timeline is written only when at least one
job of the batch succeeded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cli_chains import (
    chain_lines,
    compare_pictures,
    generate_fields,
    resolve_apply_look,
    restyle_fields,
)
from .cli_checks import (
    LOGIN_HINT,
    Asked,
    CliError,
    asked_provider,
    bytes_needed,
    check_out,
    no_credential,
)
from .cli_output import Progress, emit, export_to, final_text, plan_text
from .client import BridgeClient, BridgeError
from .config import ConfigError, Paths, Settings, load_settings
from .credentials import CredentialError, load_credential
from .fileguard import UnsafeFile, regular_file

EXIT_OK, EXIT_FAILED = 0, 1
TIMELINE_SUFFIXES = {".otio", ".otioz", ".otiod", ".xml", ".fcpxml", ".fcpxmld", ".edl",
                     ".aaf", ".ale"}


def settings_for(args: argparse.Namespace) -> Settings:
    overrides = {
        "provider": getattr(args, "provider", None),
        "server.port": getattr(args, "port", None),
        "hosting.media_host": getattr(args, "media_host", None),
    }
    try:
        return load_settings(overrides=overrides)
    except ConfigError as exc:
        raise CliError(str(exc), "fix the file or the environment variable named",
                       reason="bad_config") from exc


def connect(paths: Paths) -> BridgeClient | None:
    """The running daemon, or None when there is none (or it does not answer)."""
    try:
        client = BridgeClient.discover(str(paths.discovery_file), timeout=30)
        client.health()
        return client
    except BridgeError:
        return None


def credential_configured(paths: Paths) -> bool:
    try:
        return load_credential(paths).configured
    except CredentialError:
        return False


def _timeline_suffix(path: Path) -> bool:
    return path.suffix.lower() in TIMELINE_SUFFIXES


def _check_presets(names: Sequence[str], paths: Paths) -> None:
    """A preset typo is caught here, before any daemon starts, with the nearest name."""
    import difflib

    from .media.errors import MediaError
    from .media.presets import load_presets

    try:
        known = [p["id"] for p in load_presets(paths.presets_dir).menu()]
    except MediaError:
        return  # the daemon reports a broken preset file with its name
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.5)
            guess = f"; did you mean --preset {near[0]}?" if near else ""
            raise CliError(f"--preset {name}: no such preset{guess}",
                           "kling-bridge presets lists them", reason="unknown_preset")


def restyle_body(args: argparse.Namespace, paths: Paths) -> dict[str, Any]:
    src = args.input.expanduser().resolve()
    if not src.exists():
        raise CliError(f"{args.input}: no such file", "check the path", reason="no_input")
    if not args.preset and not (args.prompt and args.prompt.strip()) and not args.apply_look:
        raise CliError("restyle needs a look: --preset NAME or --prompt WORDS (or both)",
                       "kling-bridge presets lists the looks", reason="no_look")
    _check_presets(args.preset, paths)
    if args.format:
        from .timeline import TimelineError, canonical_format

        try:
            canonical_format(args.format)
        except TimelineError:
            raise CliError(f"--format {args.format}: not a timeline format",
                           "use otio, fcp_xml, fcpx_xml, cmx_3600 or aaf",
                           reason="bad_format") from None
    looks = [{"preset": p, "prompt": args.prompt} for p in args.preset] or [
        {"preset": None, "prompt": args.prompt}]
    body: dict[str, Any] = {
        "looks": looks, "variants": args.variants, "resolution": args.resolution,
        "keep_audio": not args.no_audio, "provider": args.provider, "dry_run": args.dry_run,
        "select": {"handles": args.handles}, **restyle_fields(args),
    }
    if args.apply_look:
        body.pop("looks")  # the look comes from the job (resolved with the daemon)
    if _timeline_suffix(src):
        body["timeline_path"] = str(src)
        mode, values, rng = _select(args.select)
        body["select"].update({"mode": mode, "values": values, "range": rng})
    else:
        if args.select:
            raise CliError("--select applies to timelines; a media file is restyled whole",
                           "use --start and --frames for a part of the clip",
                           reason="usage")
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
        raise CliError(f"--select {selectors[0]}: unknown selection",
                       "use all, marked, color:NAMES, track:NAMES, range:IN-OUT, marker:TEXT")
    if kind in ("color", "track", "marker") and not arg.strip():
        raise CliError(f"--select {kind}: needs a value", f"e.g. --select {kind}:"
                       + {"color": "Orange", "track": "V2", "marker": "restyle"}[kind])
    if kind == "range":
        start, sep, end = arg.partition("-")
        if not sep:
            raise CliError("--select range: needs IN-OUT",
                           "frames from the timeline start (240-480) or timecodes "
                           "(01:00:10:00-01:00:20:00)")
        return "range", [], [start, end]
    return kind, [v for v in arg.split(",") if v], None


def generate_body(args: argparse.Namespace, paths: Paths) -> dict[str, Any]:
    shots = []
    for shot in args.shot:
        secs, sep, words = shot.partition(":")
        if not sep or not secs.strip().isdigit() or not words.strip():
            raise CliError(f"--shot {shot!r}: write it as SECONDS:WORDS",
                           "e.g. --shot '4:a street at dusk'")
        shots.append({"duration": int(secs), "prompt": words.strip()})
    if len(shots) > 6:
        raise CliError(f"{len(shots)} --shot options: at most 6 cuts",
                       "merge some shots, or generate them as two clips")
    if shots and not 3 <= sum(s["duration"] for s in shots) <= 15:
        raise CliError(f"the --shot lengths add up to {sum(s['duration'] for s in shots)} s; "
                       "they must total 3-15 s", "shorten or lengthen the shots")
    fields = generate_fields(args)
    if (not args.prompt.strip() and not shots and args.image is None
            and "reference" not in fields):
        raise CliError("generate needs --prompt WORDS, --shot SECONDS:WORDS or --image FILE",
                       "e.g. --prompt 'rain on a tin roof, close up'", reason="no_prompt")
    _check_presets(args.then, paths)
    image = _existing(args.image, "--image")
    return {"prompt": args.prompt, "image": image, "shots": shots, "duration": args.duration,
            "aspect_ratio": args.aspect, "resolution": args.resolution, "audio": args.audio,
            "variants": args.variants, "provider": args.provider, "dry_run": args.dry_run,
            **fields}


def _existing(path: Path | None, flag: str) -> str | None:
    """The absolute path of an input file, refused in the flag's words when it is missing or
    is not a regular file (a FIFO, a device, a folder: never opened here)."""
    if path is None:
        return None
    full = path.expanduser().resolve()
    try:
        regular_file(full, what=flag.lstrip("-") + " file")
    except UnsafeFile as exc:
        if exc.code == "missing":
            raise CliError(f"{flag} {path}: no such file", "check the path",
                           reason="no_input") from None
        raise CliError(f"{flag} {path}: {exc.problem}", exc.hint, reason="bad_input") from None
    return str(full)


def lipsync_body(args: argparse.Namespace, paths: Paths) -> dict[str, Any]:
    if (args.video is None) == (args.image is None):
        raise CliError("lipsync needs the face: --video CLIP or --image STILL (one of them)",
                       "e.g. --image face.png")
    if args.audio_end is not None and args.audio_end <= args.audio_start:
        raise CliError(f"--audio-end {args.audio_end:g} s must come after --audio-start "
                       f"{args.audio_start:g} s", "the line must last 2-60 s")
    return {"audio": _existing(args.audio, "--audio"), "video": _existing(args.video, "--video"),
            "image": _existing(args.image, "--image"), "audio_start": args.audio_start,
            "audio_end": args.audio_end, "resolution": args.resolution,
            "provider": args.provider, "dry_run": args.dry_run}


def cmd_submit(args: argparse.Namespace, paths: Paths) -> int:
    from .daemon import DaemonError

    body = {"restyle": restyle_body, "generate": generate_body,
            "lipsync": lipsync_body}[args.command](args, paths)
    if args.out is not None:
        check_out(args.out)  # before anything is started, sent or paid
    asked = asked_provider(args.provider, paths)
    client = connect(paths)
    if client is not None:
        if args.media_host:
            print("note: --media-host applies to a daemon started by this command; the running "
                  "daemon uses its own configuration", file=sys.stderr)
        body["provider"] = _provider_of_running(client, asked, args)
        return _submit_and_follow(args, client, body)
    from .inprocess import InProcessDaemon

    settings = settings_for(args)
    try:
        with InProcessDaemon(settings, paths) as client:
            if not args.dry_run and not args.wait:
                args.wait = args.waiting_here = True
            return _submit_and_follow(args, client, body)
    except DaemonError as exc:
        if (settings.provider == "kling" and "credential" in exc.message
                and not credential_configured(paths)):
            raise no_credential(asked or Asked("kling", "config")) from None
        raise CliError(exc.message, exc.hint, reason="daemon") from None


def _provider_of_running(client: BridgeClient, asked: Asked | None,
                         args: argparse.Namespace) -> str | None:
    """The provider to ask the running daemon for -- never silently another one."""
    health = client.health()
    default = str(health["provider"])
    available = [str(p["name"]) for p in health["providers"]]
    if asked is None:
        if default != "draft" and not args.json:
            print(f"note: the running daemon uses {default} (its own setting); "
                  "--provider draft makes a free draft", file=sys.stderr)
        return None
    if asked.name not in available:
        hint = (f"{LOGIN_HINT}, then restart the daemon: kling-bridge stop; kling-bridge serve"
                if asked.name == "kling" else "restart the daemon: kling-bridge stop; "
                "kling-bridge serve")
        raise CliError(
            f"you asked for {asked.name} ({asked.where}), but the running daemon at "
            f"{client.url} has no {asked.name} provider (it offers {', '.join(available)})",
            hint + f"; or use --provider {default}", reason="provider_unavailable")
    if asked.name != default and not args.json:
        print(f"note: the running daemon's default provider is {default}; this uses "
              f"{asked.name}, as asked ({asked.where})", file=sys.stderr)
    return asked.name


def _submit_and_follow(args: argparse.Namespace, client: BridgeClient,
                       body: dict[str, Any]) -> int:
    send = getattr(client, args.command)
    if args.command == "restyle" and args.apply_look:
        body["apply_look"] = resolve_apply_look(client, args)
    if getattr(args, "compare", False) and not args.dry_run:
        args.wait = True  # the picture needs the looks
    if args.out is not None and not args.dry_run:
        # The plan first (nothing created): is there room in --out for what it makes?
        plan = send({**body, "dry_run": True})
        check_out(args.out, bytes_needed(plan.get("jobs", [])))
    if getattr(args, "waiting_here", False) and not args.json:
        print("no daemon is running: started one in this process; waiting for the result "
              "(use 'kling-bridge serve' to submit and leave)", file=sys.stderr)
    answer = send(body)
    if args.dry_run:
        emit(args, answer, plan_text(answer))
        return EXIT_OK
    est = answer["estimate"]
    price = (
        "free (draft)" if answer["draft"] else f"about {est['units']:g} units (US${est['usd']:.2f})"
    )
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
    notes: list[str] = []
    succeeded = [j for j in final["jobs"] if j["state"] == "succeeded"]
    timeline_input = (args.command == "restyle" and getattr(args, "input", None) is not None
                      and _timeline_suffix(args.input))
    if args.out is not None:
        written, said = export_to(client, final["batch_id"], args.out,
                                  getattr(args, "format", None))
        notes += said  # the export says when no result timeline was written
    elif timeline_input and not succeeded:
        notes.append("no result timeline written: every job failed")
    pictures: list[str] = []
    if getattr(args, "compare", False) and succeeded:
        pictures = compare_pictures(client, final["batch_id"], args.out)
        written += pictures
    failed = len(final["jobs"]) - len(succeeded)
    failed += sum(1 for c in final.get("chains") or [] for lk in c["links"]
                  if lk["state"] in ("blocked", "refused"))
    text = final_text(final, written, notes)
    text += "".join(f"\n{line}" for line in chain_lines(final))
    text += "".join(f"\n  comparison picture: {p}" for p in pictures)
    emit(args, {**final, "written": written, "notes": notes, "comparisons": pictures}, text)
    return EXIT_FAILED if failed else EXIT_OK


