"""The Kling Bridge window's logic (pure): what it shows and what each button does.

``window.show_window`` builds the ``fu.UIManager`` window and calls these handlers with the
form's values; each handler answers the texts to show (``{"Price": ..., "Progress": ...}``).
Nothing here touches Resolve or blocks: a button submits and returns, the window's timer
(or the Collect button) brings results in, so Resolve stays usable while Kling works.
"""

from typing import Any, Callable, Dict, List, Optional  # noqa: F401 (type comments)

from .settings import SettingsError, validate

PLACEMENTS = (("take", "Takes on the clips"), ("track", "Clips on a track above"))
WINDOW = {"ID": "KlingBridge", "WindowTitle": "Kling Bridge", "Geometry": [200, 200, 520, 360]}
BUTTONS = (("PriceButton", "on_price"), ("Restyle", "on_restyle"), ("Generate", "on_generate"),
           ("Collect", "on_collect"))
PROMPT_ONLY = ("", "(prompt only)")
MAX_LINES = 6


def layout(form):
    # type: (Dict[str, Any]) -> Any
    """The window as data, ``(kind, props, children)``: window.py makes the UIManager widgets."""
    def widget(kind, **props):
        # type: (str, Any) -> Any
        return (kind, props, [])

    def row(*children):
        # type: (Any) -> Any
        return ("HGroup", {}, list(children))

    return ("VGroup", {}, [
        widget("Label", ID="Info", Text=form["info"], WordWrap=True),
        row(widget("Label", Text="Look"), widget("ComboBox", ID="Preset")),
        widget("LineEdit", ID="Prompt", Text=form["prompt"],
               PlaceholderText="extra words for the look (optional)"),
        row(widget("Label", Text="Variants"),
            widget("SpinBox", ID="Variants", Minimum=1, Maximum=8, Value=form["variants"]),
            widget("Label", Text="Results as"), widget("ComboBox", ID="Placement")),
        widget("Label", ID="Price", Text=form["price"], WordWrap=True),
        widget("Label", ID="Progress", Text=form["progress"], WordWrap=True),
        row(*([widget("Button", ID=button, Text=TITLES[button]) for button, _ in BUTTONS]
              + [widget("Button", ID="Close", Text="Close")])),
    ])


TITLES = {"PriceButton": "Price", "Restyle": "Restyle", "Generate": "B-roll",
          "Collect": "Collect"}


class Controller(object):
    """The window's state: the settings it edits, the presets it offers, the log it shows."""

    def __init__(self, session, presets, save, info=""):
        # type: (Any, List[Dict[str, Any]], Callable[[Dict[str, Any]], Any], str) -> None
        self.session = session
        self.presets = [(p["id"], "%s (%s)" % (p.get("name") or p["id"], p.get("category", "")))
                        for p in presets] + [PROMPT_ONLY]
        self.save = save
        self.info = info
        self.lines = []  # type: List[str]
        outer_say = session.say

        def say(text):
            # type: (str) -> None
            outer_say(text)  # the Console keeps the whole story
            self.lines = ([*self.lines, text])[-MAX_LINES:]
        session.say = say

    def form(self):
        # type: () -> Dict[str, Any]
        settings = self.session.settings
        ids = [p[0] for p in self.presets]
        return {
            "info": self.info,
            "presets": [p[1] for p in self.presets],
            "preset_index": ids.index(settings["preset"]) if settings["preset"] in ids
            else len(ids) - 1,
            "prompt": settings["prompt"],
            "variants": settings["variants"],
            "placements": [p[1] for p in PLACEMENTS],
            "placement_index": [p[0] for p in PLACEMENTS].index(settings["placement"]),
            "price": "Price: press Price to see what the chosen clips would cost",
            "progress": "",
        }

    def settings_from(self, values):
        # type: (Dict[str, Any]) -> Dict[str, Any]
        """The form's values as settings (validated; raises SettingsError)."""
        new = dict(self.session.settings)
        index = int(values.get("preset_index", 0))
        if not 0 <= index < len(self.presets):
            raise SettingsError("pick a look from the list")
        new["preset"] = self.presets[index][0]
        new["prompt"] = str(values.get("prompt", "")).strip()
        new["variants"] = int(values.get("variants", 1))
        placement = int(values.get("placement_index", 0))
        if not 0 <= placement < len(PLACEMENTS):
            raise SettingsError("pick where results go")
        new["placement"] = PLACEMENTS[placement][0]
        return validate(new, "the dialog")

    def _run(self, values, work):
        # type: (Dict[str, Any], Callable[[], Optional[str]]) -> Dict[str, str]
        try:
            self.session.settings = self.settings_from(values)
            self.save(self.session.settings)
            shown = work()
        except Exception as exc:
            self.session.say("Kling Bridge: %s" % exc)
            shown = None
        texts = {"Progress": "\n".join(self.lines)}
        if shown:
            texts["Price"] = shown
        return texts

    def on_price(self, values):
        # type: (Dict[str, Any]) -> Dict[str, str]
        return self._run(values, self.session.price)

    def on_restyle(self, values):
        # type: (Dict[str, Any]) -> Dict[str, str]
        def work():
            # type: () -> Optional[str]
            self.session.restyle(wait=0)
            return None
        return self._run(values, work)

    def on_generate(self, values):
        # type: (Dict[str, Any]) -> Dict[str, str]
        def work():
            # type: () -> Optional[str]
            self.session.generate(wait=0)
            return None
        return self._run(values, work)

    def on_collect(self, values):
        # type: (Dict[str, Any]) -> Dict[str, str]
        def work():
            # type: () -> Optional[str]
            if self.session.collect(0) == 0 and not self.session.ledger.open_batches(
                    self.session.key):
                self.session.say("Nothing waiting: every result is on the timeline.")
            return None
        return self._run(values, work)

    def on_tick(self, values):
        # type: (Dict[str, Any]) -> Dict[str, str]
        """The window's timer: bring in what finished, quietly when nothing waits."""
        if not self.session.ledger.open_batches(self.session.key):
            return {}
        return self._run(values, lambda: self.session.collect(0) and None)
