"""The command line's chains, comparisons and characters (the API's, in flags).

- ``generate ... --then film-noir`` generates, then restyles the clip (each ``--then`` one
  look); ``--like JOB|CLIP`` makes new footage in a clip's look, ``--next-shot JOB|CLIP`` the
  shot after it; ``--character NAME`` keeps a registered character in the picture.
- ``restyle ... --more-like-this`` restyles, then makes B-roll in each clip's look (after
  the clip, in the gap after it, or at the ``kling:`` markers: ``--broll-at``).
- ``restyle CLIP --preset a --preset b ... --compare`` writes the comparison picture;
  ``restyle CUT --apply-look JOB`` (or ``--apply-look N --from-batch BATCH``, N the column
  number on the picture, or a preset name) restyles the rest of the selection in that look.
- ``character add|list|rename|remove``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cli_checks import CliError, number_in
from .client import BridgeClient

JOB_ID = re.compile(r"^j[0-9a-f]{23}$")
BATCH_ID = re.compile(r"^b[0-9a-f]{23}$")


# ---------------------------------------------------------------- options


def add_restyle_options(r: argparse.ArgumentParser) -> None:
    r.add_argument("--more-like-this", action="store_true",
                   help="then B-roll in each restyled clip's look (a chain; default: off)")
    r.add_argument("--broll-prompt", default="",
                   help="with --more-like-this: what the B-roll shows; the look's words are "
                   "added (default: the look's words alone)")
    r.add_argument("--broll-duration", type=number_in("--broll-duration", 3, 15, "s"),
                   default=5, help="with --more-like-this: seconds, 3-15 (default: %(default)s)")
    r.add_argument("--broll-at", choices=["after", "gap", "markers"], default="after",
                   help="with --more-like-this: right after each clip, in the gap after it "
                   "(cut to the gap), or at the timeline's kling: markers (default: %(default)s)")
    r.add_argument("--broll-as-frame", action="store_true",
                   help="with --more-like-this: send one frame of the restyled clip instead of "
                   "the clip (default: off, the clip as Kling's feature_video)")
    r.add_argument("--compare", action="store_true",
                   help="wait, then write one picture with the same frames of every look side "
                   "by side, labelled with look, price and job (default: off)")
    r.add_argument("--apply-look", metavar="JOB|N|PRESET",
                   help="the look of an earlier restyle: its job id, or with --from-batch the "
                   "column number on the comparison picture or its preset (default: none)")
    r.add_argument("--from-batch", metavar="BATCH",
                   help="with --apply-look N|PRESET: the batch that was compared")
    who = r.add_mutually_exclusive_group()
    who.add_argument("--to-rest", dest="to_all", action="store_false",
                     help="with --apply-look: every selected clip but the one compared "
                     "(the default)")
    who.add_argument("--to-all", dest="to_all", action="store_true",
                     help="with --apply-look: every selected clip, the compared one included")


def add_generate_options(g: argparse.ArgumentParser) -> None:
    g.add_argument("--then", action="append", default=[], metavar="PRESET",
                   help="then restyle the generated clip in this look, repeatable; only the "
                   "restyled clips are placed (default: none)")
    g.add_argument("--compare", action="store_true",
                   help="with several --then: wait, then write the comparison picture")
    g.add_argument("--like", metavar="JOB|CLIP",
                   help="new footage in the look of a restyle job's result or of a clip "
                   "(more like this; default: none)")
    g.add_argument("--next-shot", metavar="JOB|CLIP",
                   help="the shot that follows a job's result or a clip (default: none)")
    g.add_argument("--as-frame", action="store_true",
                   help="with --like: send one frame instead of the clip (default: off)")
    g.add_argument("--character", action="append", default=[], metavar="NAME",
                   help="a registered character or product to keep in the picture, "
                   "repeatable, at most 3 (kling-bridge character list; default: none)")
    g.add_argument("--project", default="default",
                   help="the project the characters are in (default: %(default)s)")


def add_character_parser(cmd: Callable[[str, str], argparse.ArgumentParser]) -> None:
    c = cmd("character", "characters and products kept per project, for consistent series")
    sub = c.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="register one from 1-4 stills (copied in)")
    add.add_argument("name")
    add.add_argument("stills", nargs="+", type=Path, metavar="STILL")
    add.add_argument("--element-id", help="Kling's element_id for it, made in Kling's own "
                     "tools (default: none, the stills are sent as reference images)")
    add.add_argument("--note", default="", help="a description for people (default: none)")
    ls = sub.add_parser("list", help="the ones in a project")
    rn = sub.add_parser("rename", help="rename one")
    rn.add_argument("name")
    rn.add_argument("new_name")
    rm = sub.add_parser("remove", help="remove one and its copied stills")
    rm.add_argument("name")
    for sp in (add, ls, rn, rm):
        sp.add_argument("--project", default="default",
                        help="project name (default: %(default)s)")
        sp.add_argument("--json", action="store_true", help="machine-readable output")


# ---------------------------------------------------------------- request bodies


def _reference(value: str, flag: str) -> dict[str, Any]:
    if JOB_ID.match(value):
        return {"job_id": value}
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise CliError(f"{flag} {value}: neither a job id (j…) nor a clip on this machine",
                       "give a job id from 'kling-bridge jobs', or a media file",
                       reason="no_input")
    return {"clip": {"path": str(path)}}


def generate_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The chain, reference and character fields of a ``generate`` request."""
    body: dict[str, Any] = {}
    if args.like and args.next_shot:
        raise CliError("give --like or --next-shot, not both", "one reference per generation")
    if args.as_frame and not args.like:
        raise CliError("--as-frame goes with --like", "e.g. --like JOB --as-frame")
    if args.like:
        body["reference"] = {**_reference(args.like, "--like"), "mode": "style",
                             "send_as": "frame" if args.as_frame else "video"}
    if args.next_shot:
        body["reference"] = {**_reference(args.next_shot, "--next-shot"), "mode": "next_shot"}
    if body.get("reference") and args.audio and not args.as_frame:
        raise CliError("--audio with a reference clip: Kling makes such a clip silent",
                       "leave --audio out (or use --like with --as-frame)")
    if args.then:
        body["then"] = [{"preset": p} for p in args.then]
    if args.compare and len(args.then) < 2:
        raise CliError("--compare needs two or more --then looks",
                       "e.g. --then film-noir --then watercolor --compare")
    if len(args.character) > 3:
        raise CliError(f"{len(args.character)} --character: at most 3", "pick the main ones")
    if args.character:
        body["characters"] = list(args.character)
        body["project"] = args.project
    return body


def restyle_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The chain and apply-look fields of a ``restyle`` request (the look to apply is
    resolved once the daemon is reached: :func:`resolve_apply_look`)."""
    body: dict[str, Any] = {}
    broll_flags = (args.broll_prompt or args.broll_at != "after" or args.broll_as_frame
                   or args.broll_duration != 5)
    if broll_flags and not args.more_like_this:
        raise CliError("--broll-* options go with --more-like-this",
                       "add --more-like-this to make the B-roll")
    if args.more_like_this:
        body["more_like_this"] = {"prompt": args.broll_prompt, "duration": args.broll_duration,
                                  "place": args.broll_at,
                                  "send_as": "frame" if args.broll_as_frame else "video"}
    if args.from_batch and not args.apply_look:
        raise CliError("--from-batch goes with --apply-look", "e.g. --apply-look 3 --from-batch B")
    if args.apply_look and (args.preset or args.prompt):
        raise CliError("give --apply-look or --preset/--prompt, not both",
                       "--apply-look takes the look (and its settings) from the job")
    return body


def resolve_apply_look(client: BridgeClient, args: argparse.Namespace) -> dict[str, Any] | None:
    """``--apply-look`` as the API's ``apply_look``: a job id as it is; a column number or
    a preset name looked up in ``--from-batch``'s restyles (numbered as on its picture)."""
    if not args.apply_look:
        return None
    value = str(args.apply_look)
    to = "all" if args.to_all else "rest"
    if JOB_ID.match(value):
        return {"job_id": value, "to": to}
    if not args.from_batch or not BATCH_ID.match(args.from_batch):
        raise CliError(f"--apply-look {value}: a column number or a preset needs "
                       "--from-batch BATCH (the batch compared)",
                       "or give the job id printed on the comparison picture")
    restyles = [j for j in client.batch(args.from_batch)["jobs"] if j["kind"] == "restyle"]
    if value.isdigit() and 1 <= int(value) <= len(restyles):
        return {"job_id": restyles[int(value) - 1]["id"], "to": to}
    found = [j for j in restyles if (j["spec"].get("look") or {}).get("preset") == value]
    if not found:
        looks = ", ".join(f"{n} {(j['spec'].get('look') or {}).get('preset') or 'custom'}"
                          for n, j in enumerate(restyles, 1))
        raise CliError(f"--apply-look {value}: batch {args.from_batch} has no such look",
                       f"its looks: {looks or 'none'}")
    return {"job_id": found[0]["id"], "to": to}


# ---------------------------------------------------------------- after the wait


def compare_pictures(client: BridgeClient, batch_id: str, out: Path | None) -> list[str]:
    """The batch's comparison picture(s); copied into ``out`` when given. Paths written."""
    from .cli_output import atomic_copy

    answer = client.compare(batch_id)
    written = []
    for picture in answer["pictures"]:
        path = Path(picture["path"])
        written.append(str(atomic_copy(path, out) if out is not None else path))
    return written


def chain_lines(final: dict[str, Any]) -> list[str]:
    """What a chain that did not finish kept, and where it stopped, for people."""
    lines = []
    for chain in final.get("chains") or []:
        if chain["state"] in ("running", "succeeded"):
            continue
        for kept in chain["kept"]:
            lines.append(f"  kept (link {kept['index'] + 1}) {kept['label']}: {kept['video']}")
        stop = chain.get("stopped_at")
        if stop:
            err = (stop.get("error") or {}).get("message", "")
            lines.append(f"  stopped at link {stop['index'] + 1} ({stop['label']}): "
                         f"{stop['state']}{': ' + err if err else ''}")
    return lines


# ---------------------------------------------------------------- characters


def cmd_character(args: argparse.Namespace, client: BridgeClient) -> int:
    from .cli_output import emit

    if args.action == "list":
        found = client.elements(args.project)
        lines = [f"{e['name']}: {len(e['images'])} still(s), sent as {e['sent_as']}"
                 + (f" ({e['element_id']})" if e["element_id"] else "") for e in found]
        emit(args, {"project": args.project, "elements": found},
             "\n".join(lines) or f"no characters in project {args.project!r} yet "
             "(kling-bridge character add NAME STILL)")
        return 0
    if args.action == "add":
        stills = []
        for still in args.stills:
            full = still.expanduser().resolve()
            if not full.is_file():
                raise CliError(f"{still}: no such file", "check the path", reason="no_input")
            stills.append(str(full))
        added = client.add_element(args.name, stills, args.project, args.element_id, args.note)
        emit(args, added, f"added {added['name']} to project {args.project!r} "
             f"({len(added['images'])} still(s) copied in; sent as {added['sent_as']})")
        return 0
    element = _named(client, args.name, args.project)
    if args.action == "rename":
        done = client.rename_element(element["id"], args.new_name)
        emit(args, done, f"renamed {element['name']} to {done['name']}")
        return 0
    gone = client.remove_element(element["id"])
    emit(args, gone, f"removed {gone['name']} from project {args.project!r}")
    return 0


def _named(client: BridgeClient, name: str, project: str) -> dict[str, Any]:
    found = [e for e in client.elements(project) if e["name"].lower() == name.lower()]
    if not found:
        raise CliError(f"no character called {name!r} in project {project!r}",
                       "kling-bridge character list --project NAME shows them",
                       reason="unknown_character")
    element: dict[str, Any] = found[0]
    return element


def note(text: str) -> None:
    print(text, file=sys.stderr)
