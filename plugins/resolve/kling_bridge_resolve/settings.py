"""The editor's settings: one small JSON file beside the daemon's config (``resolve.json``).

Free Resolve 19.1+ offers scripts no dialog, so the scripts there run with these values
(the dialog, where Resolve has one, saves what the editor picked back here). The first run
writes the file with every default so there is something to edit; the README lists the keys.
A wrong value is refused with the key, the value and what is allowed -- never silently
replaced by a default the editor did not choose.
"""

import json
import os
from typing import Any, Dict, Mapping, Optional  # noqa: F401 (type comments)

from .client import config_dir
from .model import CLIP_COLOURS, Refusal, clip_colour_name

FILE_NAME = "resolve.json"

DEFAULTS = {
    "preset": "film-noir",       # a look id (GET /v1/presets lists them)
    "prompt": "",                # free words added to the look (or instead of a preset)
    "variants": 1,               # versions per clip, 1-8 (each one is a take)
    "resolution": "1080p",       # 720p | 1080p | 4k (what Kling renders at)
    "clip_colour": "Orange",     # the selection colour before Resolve 21.0.4 ("" = none)
    "placement": "take",         # take | track: a take on the clip, or a clip on a track above
    "handles": 12,               # frames each side the provider may use (0-240)
    "wait_seconds": 30,          # how long a script waits for results before leaving them
    "broll_prompt": "",          # B-roll at the playhead when no kling: marker is set
    "broll_seconds": 5,          # B-roll length when a marker has none (3-15)
    "broll_audio": True,         # generated B-roll with sound
    "max_units": 20,             # a paid run costing more is refused (raise it, or use the dialog)
    "bin": "Kling Bridge",       # the Media Pool bin results are imported into
    "compare_looks": "film-noir, anime-cel, watercolor",  # Compare looks: presets, comma-separated
    "apply_look": "",            # Apply look: a comparison column or job id ("" = the look shown)
}  # type: Dict[str, Any]

CHOICES = {"resolution": ("720p", "1080p", "4k"), "placement": ("take", "track")}
RANGES = {"variants": (1, 8), "handles": (0, 240), "wait_seconds": (0, 3600),
          "broll_seconds": (3, 15), "max_units": (0, 100000)}


#: How often a waiting script asks the daemon about its batches, in seconds.
POLL_SECONDS = 1.0
#: The plugin's tests set this lower so a script stops waiting when the work is done, not up
#: to a second later; not a setting editors need (a second is quick enough by hand).
POLL_ENV = "KLING_BRIDGE_RESOLVE_POLL_SECONDS"
POLL_RANGE = (0.05, 10.0)


class SettingsError(Refusal):
    """The settings file or the window's form holds a value the plugin cannot use."""


def settings_path(env=None):
    # type: (Optional[Dict[str, str]]) -> str
    return os.path.join(config_dir(env), FILE_NAME)


def poll_seconds(env=None):
    # type: (Optional[Mapping[str, str]]) -> float
    """The wait between asks: POLL_SECONDS, or KLING_BRIDGE_RESOLVE_POLL_SECONDS when set
    (a number from 0.05 to 10; anything else is refused by name, not ignored)."""
    environ = os.environ if env is None else env  # type: Mapping[str, str]
    text = environ.get(POLL_ENV, "").strip()
    if not text:
        return POLL_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    low, high = POLL_RANGE
    if not low <= value <= high:
        raise SettingsError("%s is %r; it must be a number of seconds from %s to %s"
                            % (POLL_ENV, text, low, high),
                            "unset it to ask the daemon once a second")
    return value


def validate(values, where="settings"):
    # type: (Dict[str, Any], str) -> Dict[str, Any]
    """Defaults filled in, every value checked; SettingsError names the first bad one."""
    unknown = sorted(k for k in values if k not in DEFAULTS)
    if unknown:
        raise SettingsError("%s: unknown key%s %s" % (where, "s" if len(unknown) > 1 else "",
                                                       ", ".join(repr(k) for k in unknown)),
                            "known keys: " + ", ".join(sorted(DEFAULTS)))
    out = dict(DEFAULTS)
    out.update(values)
    for key, default in DEFAULTS.items():
        value = out[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise SettingsError("%s: %s must be true or false, not %r" % (where, key, value))
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsError("%s: %s must be a whole number, not %r" % (where, key, value))
            low, high = RANGES[key]
            if not low <= value <= high:
                raise SettingsError("%s: %s is %d; it must be %d to %d"
                                    % (where, key, value, low, high))
        elif not isinstance(value, str):
            raise SettingsError("%s: %s must be text, not %r" % (where, key, value))
    for key, allowed in CHOICES.items():
        if out[key] not in allowed:
            raise SettingsError("%s: %s is %r" % (where, key, out[key]),
                                "use one of: " + ", ".join(allowed))
    if out["clip_colour"]:
        name = clip_colour_name(out["clip_colour"])
        if name is None:
            raise SettingsError("%s: clip_colour %r is not a Resolve clip colour"
                                % (where, out["clip_colour"]),
                                "use one of: " + ", ".join(CLIP_COLOURS) + ' (or "" for none)')
        out["clip_colour"] = name
    if not out["preset"] and not out["prompt"].strip():
        raise SettingsError("%s: a look needs a preset or a prompt" % where,
                            'set "preset" (e.g. "film-noir") or write a "prompt"')
    looks = [x.strip() for x in out["compare_looks"].split(",") if x.strip()]
    if len(looks) > 20:
        raise SettingsError("%s: compare_looks lists %d looks; at most 20" % (where, len(looks)))
    if not out["bin"].strip():
        raise SettingsError("%s: bin must name a Media Pool bin" % where)
    return out


def load(path=None):
    # type: (Optional[str]) -> Dict[str, Any]
    """The settings in ``path`` (default: resolve.json in the config folder).

    A missing file is created with the defaults, so the editor has one to edit.
    """
    path = path or settings_path()
    if not os.path.exists(path):
        save(DEFAULTS, path)
        return dict(DEFAULTS)
    try:
        with open(path, encoding="utf-8") as fh:
            values = json.load(fh)
    except ValueError as exc:
        raise SettingsError("%s is not valid JSON (%s)" % (path, exc),
                            "fix it, or delete it to start again from the defaults") from None
    except OSError as exc:
        raise SettingsError("cannot read %s (%s)" % (path, exc)) from None
    if not isinstance(values, dict):
        raise SettingsError("%s must hold one JSON object {...}" % path)
    return validate(values, path)


def save(values, path=None):
    # type: (Dict[str, Any], Optional[str]) -> str
    """Write ``values`` (validated) to ``path`` through a temp file: never half a file."""
    path = path or settings_path()
    clean = validate(values, "new settings")
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        os.makedirs(folder)
    temp = path + ".tmp"
    with open(temp, "w", encoding="utf-8") as fh:
        json.dump(clean, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(temp, path)
    return path
