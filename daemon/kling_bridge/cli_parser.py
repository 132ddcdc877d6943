"""The command line's grammar: every verb, its flags, their ranges and defaults.

Kept apart from ``cli.py`` (which runs the verbs) so the help text people read, and the
refusal wording argparse produces, live in one place; ``cli.py`` re-exports
:func:`build_parser` and :class:`Parser`. Each help line names the range, the unit and the
default, so ``--help`` answers what a refusal would otherwise have to.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import NoReturn

from . import __version__
from . import cli_chains as chain_options
from .cli_checks import EXIT_USAGE, number_in

FORMATS_TEXT = "otio, otioz, FCP XML (.xml), FCPXML, EDL, AAF"


class Parser(argparse.ArgumentParser):
    """argparse, but refusals read like the rest of the CLI's ("--duration must be 3–15 s
    (got 20)", and what to do), and are JSON on stdout when ``--json`` was given."""

    json_refusals = False

    def error(self, message: str) -> NoReturn:
        # "argument --duration: must be ..." -> "--duration must be ..."
        message = re.sub(r"^argument (-[\w-]+)(?:/[\w-]+)?: (must|needs) ", r"\1 \2 ", message)
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        hint = f"see {self.prog} --help"
        if Parser.json_refusals:
            print(json.dumps({"error": {"code": "usage", "message": message, "hint": hint}},
                             indent=2))
        else:
            print(f"{self.prog}: {message}\n  what to do: {hint}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="kling-bridge",
        description="Kling video models from your editing timeline (restyle with O3, "
        "generate with 3.0).",
    )
    p.add_argument("--version", action="version", version=f"kling-bridge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--json", action="store_true",
                        help="machine-readable output, refusals included (default: off)")
        return sp

    s = cmd("serve", "run the daemon in the foreground (prints its address and config folder)")
    s.add_argument("--port", type=number_in("--port", 0, 65535),
                   help="TCP port on 127.0.0.1, 0-65535; 0 picks a free one "
                   "(default: server.port in config.toml, 47821)")
    s.add_argument("--provider", choices=["draft", "kling"],
                   help="default provider: draft (free, offline) or kling (paid) "
                   "(default: provider in config.toml, draft)")
    s.add_argument("--media-host", help="where Kling fetches clips: s3://bucket/prefix or "
                   "https://public.example/ (default: hosting.media_host in config.toml)")

    cmd("stop", "stop the running daemon (jobs resume when it starts again)")
    cmd("status", "is the daemon running, with which provider and credentials; the config "
        "folder")
    cmd("doctor", "check ffmpeg, keyring, credentials, disk, database, daemon, provider "
        "(exits 1 when a check fails)")
    cmd("presets", "list the looks --preset takes (id, name, one line each)")

    j = cmd("jobs", "list jobs")
    j.add_argument("--state", help="comma-separated states: queued, running, succeeded, "
                   "failed, cancelled, needs_attention (default: all)")
    j.add_argument("--batch", help="one batch's jobs, by batch id (default: every batch)")
    j.add_argument("--limit", type=number_in("--limit", 1, 1000), default=30,
                   help="most recent jobs to list, 1-1000 (default: %(default)s)")

    for name, help_ in (("cancel", "cancel a job (sent tasks stay paid)"),
                        ("retry", "retry a failed, cancelled or unresolved job")):
        c = cmd(name, help_)
        c.add_argument("job_id", help="the job's id (kling-bridge jobs lists them)")

    lg = cmd("login", "store Kling credentials in the system keyring")
    lg.add_argument("--from-stdin", action="store_true",
                    help="read the key (or 'AK:SK', or JSON) from standard input "
                    "(default: off, ask at the prompt)")
    lg.add_argument("--access-key", action="store_true",
                    help="prompt for an access key + secret key pair instead of an API key "
                    "(default: off)")
    lg.add_argument("--insecure-file", action="store_true",
                    help="no keyring here: keep them in a 0600 file in the config folder "
                    "(default: off)")
    cmd("logout", "remove stored Kling credentials")

    def job_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--provider", choices=["draft", "kling"],
                        help="draft (free, offline, labelled DRAFT) or kling (paid) "
                        "(default: the running daemon's, else provider in config.toml, draft)")
        sp.add_argument("--resolution", choices=["720p", "1080p", "4k"], default="1080p",
                        help="Kling's output resolution; the result is conformed back to the "
                        "source's size (default: %(default)s)")
        sp.add_argument("--variants", type=number_in("--variants", 1, 8), default=1,
                        help="takes of each job, 1-8 (default: %(default)s)")
        sp.add_argument("--out", type=Path, help="copy the results into this folder, never "
                        "over a file; checked before anything is sent (default: results stay "
                        "in the daemon's outputs folder)")
        sp.add_argument("--wait", action="store_true",
                        help="wait and show progress (default: off; on when no daemon runs)")
        sp.add_argument("--dry-run", action="store_true",
                        help="show the plan and the price, create nothing (default: off)")
        sp.add_argument("--media-host", help="for a daemon started by this command: where "
                        "Kling fetches clips, s3://bucket/prefix or https://public.example/ "
                        "(default: hosting.media_host in config.toml)")

    r = cmd("restyle", "restyle a clip or a timeline's selected clips (Kling O3)")
    r.add_argument("input", type=Path, help=f"media file, or a timeline ({FORMATS_TEXT})")
    r.add_argument("--preset", action="append", default=[],
                   help="look preset id, repeatable: one job per look "
                   "(kling-bridge presets lists them; default: none, give --prompt)")
    r.add_argument("--prompt", help="free words for the look, up to 2500 characters, with or "
                   "without a preset (default: none)")
    r.add_argument("--select", action="append", default=[],
                   help="which clips of a timeline: all | marked | color:NAME,... | "
                   "track:NAME,... | range:IN-OUT (frames or timecodes) | marker:TEXT "
                   "(default: marked, the clips an editor plugin marked)")
    r.add_argument("--handles", type=number_in("--handles", 0, 240, "frames"), default=12,
                   help="frames of handles each side, 0-240, used to reach Kling's 3 s "
                   "minimum (default: %(default)s)")
    r.add_argument("--start", type=number_in("--start", 0, None, "frames"),
                   help="media files: first frame, 0 or more (default: 0, the first)")
    r.add_argument("--frames", type=number_in("--frames", 1, None, "frames"),
                   help="media files: frame count, 1 or more (default: to the end)")
    r.add_argument("--no-audio", action="store_true",
                   help="drop the clip's own sound (default: off, the sound is kept)")
    r.add_argument("--format", help="result timeline format: otio, fcp_xml, fcpx_xml, "
                   "cmx_3600 (EDL), aaf (default: the input's)")
    job_options(r)
    chain_options.add_restyle_options(r)

    g = cmd("generate", "generate a clip from words or a picture (Kling 3.0)")
    g.add_argument("--prompt", default="",
                   help="what to show, up to 2500 characters (default: none; give --prompt, "
                   "--shot or --image)")
    g.add_argument("--image", type=Path,
                   help="first frame, a jpg/png (image to video; default: none)")
    g.add_argument("--shot", action="append", default=[], metavar="SECONDS:WORDS",
                   help="multi-shot: one per cut, 1-6 cuts of 1 s or more, 3-15 s in all, "
                   "e.g. --shot '3:wide street at dusk' (default: one shot)")
    g.add_argument("--duration", type=number_in("--duration", 3, 15, "s"), default=5,
                   help="seconds, 3-15 (default: %(default)s; with --shot: their sum)")
    g.add_argument("--aspect", choices=["16:9", "9:16", "1:1"], default="16:9",
                   help="picture shape; with --image the image decides (default: %(default)s)")
    g.add_argument("--audio", action="store_true",
                   help="native generated sound (default: off, silent)")
    job_options(g)
    chain_options.add_generate_options(g)

    ls = cmd("lipsync", "make a face speak a dialogue clip")
    ls.add_argument("--audio", type=Path, required=True,
                    help="the dialogue: an audio or video file, 2-60 s used (required)")
    ls.add_argument("--video", type=Path, help="the face, as a clip (no default: give --video "
                    "or --image)")
    ls.add_argument("--image", type=Path, help="the face, as a still (no default: give --video "
                    "or --image)")
    ls.add_argument("--audio-start", type=number_in("--audio-start", 0, None, "s", float),
                    default=0.0, help="seconds into --audio where the line starts, 0 or more "
                    "(default: %(default)s)")
    ls.add_argument("--audio-end", type=number_in("--audio-end", 0.1, None, "s", float),
                    help="seconds into --audio where the line ends (default: its end)")
    job_options(ls)

    d = cmd("demo", "offline demo: sample footage, a restyle and a B-roll, result timeline")
    d.add_argument("--out", type=Path, help="where to write the demo; a used folder gets a "
                   "numbered sibling (default: ./kling-demo)")

    from .watch.command import add_arguments as watch_arguments

    watch_arguments(cmd("watch", "watch a folder: drop clips, timelines or prompts in, "
                                 "results come out (for any editor)"))

    chain_options.add_character_parser(cmd)

    from .installer.command import add_parsers as add_install_parsers

    add_install_parsers(cmd)  # install, uninstall
    return p
