"""The Kling Bridge window: Fusion's ``UIManager`` widgets built from ``dialog.layout`` and
wired to the controller's handlers.

Kept apart from ``host.py`` (every other call into Resolve) because it is a different API --
Fusion's UI Manager, which only the Studio edition offers scripts (``host.run_dialog``
checks that first) -- and the only code that blocks: ``RunLoop`` returns when the window
closes. What the window shows and what each button does are pure, in ``dialog.py``.
"""

from typing import Any, Dict  # noqa: F401 (type comments)

from .dialog import BUTTONS, WINDOW, layout


def show_window(ui, dispatcher, controller):
    # type: (Any, Any, Any) -> None
    """Build the window with ``ui`` (``fu.UIManager``), run it on ``dispatcher``
    (``bmd.UIDispatcher(ui)``) until it closes; a two-second timer calls ``on_tick``."""
    form = controller.form()

    def build(spec):
        # type: (Any) -> Any
        kind, props, children = spec
        make = getattr(ui, kind)
        if kind.endswith("Group"):
            built = [build(child) for child in children]
            return make(props, built) if props else make(built)
        return make(props)

    window = dispatcher.AddWindow(dict(WINDOW), build(layout(form)))
    items = window.GetItems()
    items["Preset"].AddItems(form["presets"])
    items["Preset"].CurrentIndex = form["preset_index"]
    items["Placement"].AddItems(form["placements"])
    items["Placement"].CurrentIndex = form["placement_index"]

    def values():
        # type: () -> Dict[str, Any]
        return {"preset_index": int(items["Preset"].CurrentIndex),
                "prompt": str(items["Prompt"].Text or ""),
                "variants": int(items["Variants"].Value),
                "placement_index": int(items["Placement"].CurrentIndex)}

    def show(texts):
        # type: (Dict[str, str]) -> None
        for key, text in texts.items():
            items[key].Text = text

    def handler(name):
        # type: (str) -> Any
        def handle(_event):
            # type: (Any) -> None
            show(getattr(controller, name)(values()))
        return handle

    def close(_event):
        # type: (Any) -> None
        dispatcher.ExitLoop()

    for button, name in BUTTONS:
        getattr(window.On, button).Clicked = handler(name)
    window.On.Close.Clicked = close
    getattr(window.On, str(WINDOW["ID"])).Close = close
    try:  # a repeating timer keeps the progress line alive while jobs run
        timer = ui.Timer({"ID": "Tick", "Interval": 2000})
        dispatcher.On.Tick.Timeout = handler("on_tick")
        timer.Start()
    except Exception:
        timer = None
    window.Show()
    dispatcher.RunLoop()
    if timer is not None:
        timer.Stop()
    window.Hide()
