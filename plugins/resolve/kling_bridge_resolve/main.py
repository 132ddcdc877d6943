"""``run(action, globals())``: what every Workspace > Scripts entry script calls.

It never raises into Resolve: every refusal (no daemon, no timeline, nothing selected, a
bad settings file, free Resolve 21.1+) is one clear message in the Console, and anything
unexpected prints its traceback with a line saying what to report.
"""

import sys
import traceback
from typing import Any, Callable, Dict, Optional  # noqa: F401 (type comments)

from . import __version__, chain_actions
from .actions import Session
from .client import BridgeClient, BridgeError
from .dialog import Controller
from .host import Host, HostError
from .selection import SelectionError
from .settings import SettingsError, load, save, settings_path

TITLES = {
    "restyle": "restyle the chosen clips (results as your settings say: takes or a track)",
    "restyle-track": "restyle the chosen clips onto a track above",
    "generate": "B-roll at kling: markers or the playhead",
    "more-like-this": "B-roll in the look of the chosen clips, right after each",
    "next-shot": "the shot that follows each chosen clip",
    "compare": "the chosen clip in several looks, then a comparison picture",
    "apply-look": "the look of the compared clip (or apply_look) on the rest",
    "generate-restyle": "B-roll at kling: markers or the playhead, restyled before it lands",
    "collect": "bring in finished results",
    "dialog": "the Kling Bridge window",
}

#: What each submitting action does once earlier results are collected (a new action: a
#: title above, an entry script in Scripts/, and its work here).
WORK = {
    "restyle": lambda session: session.restyle(),
    "restyle-track": lambda session: session.restyle("track"),
    "generate": lambda session: session.generate(),
    "more-like-this": lambda session: chain_actions.follow(session, "style"),
    "next-shot": lambda session: chain_actions.follow(session, "next_shot"),
    "compare": chain_actions.compare_looks,
    "apply-look": chain_actions.apply_look,
    "generate-restyle": chain_actions.generate_then_restyle,
}  # type: Dict[str, Callable[[Session], Any]]

WATCH_FOLDER_HINT = (
    "free DaVinci Resolve 21.1 and later runs only Lua scripts from Workspace > Scripts, so "
    "this plugin cannot run there. Use the watch folder instead: File > Export > Timeline... "
    "(OpenTimelineIO) into the folder 'kling-bridge watch' watches, then File > Import > "
    "Timeline... the result it writes back (README: 'DaVinci Resolve', 'Free Resolve 21.1+')")


def _console(text):
    # type: (str) -> None
    print(text)
    sys.stdout.flush()


def run(action, namespace=None, say=None):
    # type: (str, Optional[Dict[str, Any]], Optional[Callable[[str], None]]) -> int
    """Run one action; 0 when it went through, 1 on a refusal, 2 on an unexpected error."""
    say = say or _console
    if action not in TITLES:
        say("Kling Bridge: unknown action %r (one of %s)" % (action, ", ".join(TITLES)))
        return 1
    say("Kling Bridge %s: %s" % (__version__, TITLES[action]))
    try:
        host = Host.from_namespace(namespace or {})
        if host.lua_only:
            raise HostError("%s: %s" % (host.describe(), WATCH_FOLDER_HINT))
        settings = load()
        client = BridgeClient.discover(timeout=30.0)
        health = client.health()
        session = Session(host, client, settings, say)
        if action == "dialog":
            return _dialog(host, client, session, health)
        if action == "collect":
            if not session.ledger.open_batches(session.key):
                say("Nothing waiting: every result of project %r is on its timeline."
                    % session.project_name)
                return 0
            session.collect(settings["wait_seconds"])
            return 0
        session.collect(0)  # what earlier runs left behind first
        WORK[action](session)
        return 0
    except (HostError, SelectionError, SettingsError, BridgeError) as exc:
        say("Kling Bridge: %s" % exc)
        return 1
    except Exception:
        say(traceback.format_exc())
        say("Kling Bridge: an unexpected error (above). Nothing was lost: results the daemon "
            "finishes are collected on the next run. Please report the lines above.")
        return 2


def _dialog(host, client, session, health):
    # type: (Host, BridgeClient, Session, Dict[str, Any]) -> int
    if not host.dialogs:
        session.say("%s offers scripts no window (the free edition from 19.1 has none). Use "
                    "Workspace > Scripts > Edit > Kling Bridge - Restyle / - Restyle to track "
                    "/ - Generate B-roll / - Collect: they use the settings in %s"
                    % (host.describe(), settings_path()))
        session.collect(0)
        return 0
    info = "%s · daemon %s · provider %s%s" % (
        host.describe(), health.get("version", "?"), health.get("provider", "?"),
        " (local drafts)" if health.get("provider") == "draft" else "")
    controller = Controller(session, client.presets(), save, info)
    host.run_dialog(controller)
    return 0
