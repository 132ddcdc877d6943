"""Fusion's ``UIManager`` as far as a script window needs it, driven by scripted events.

Free Resolve 19.1+ answers ``fu.UIManager`` with None *and* raises an upsell modal that
breaks every later call; Studio (and free up to 19.0) hands out the toolkit. A window here
runs the events the test queued in ``state["ui_events"]`` -- ``["set", id, attr, value]``,
``["click", id]``, ``["tick"]``, ``["until", id, words, seconds]`` (ticks until the widget
shows the words), ``["close"]`` -- and records every text it showed in
``state["ui_shown"]`` so a test can read what the editor saw.
"""

import time
from typing import Any, Callable, Dict, List, Optional  # noqa: F401


class Widget(object):
    def __init__(self, app, kind, props=None, children=None):
        # type: (Any, str, Optional[Dict[str, Any]], Optional[List[Any]]) -> None
        object.__setattr__(self, "_app", app)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "props", dict(props or {}))
        object.__setattr__(self, "children", list(children or []))
        object.__setattr__(self, "items", [])

    def __getattr__(self, name):
        # type: (str) -> Any
        if name.startswith("_"):
            raise AttributeError(name)
        defaults = {"Text": "", "CurrentIndex": 0, "Value": 0}
        return self.props.get(name, defaults.get(name))

    def __setattr__(self, name, value):
        # type: (str, Any) -> None
        self.props[name] = value
        if name == "Text":
            self._app.state["ui_shown"].append([self.props.get("ID", self.kind), value])

    def AddItems(self, items):
        self.items.extend(items)

    def Start(self):
        self.props["running"] = True

    def Stop(self):
        self.props["running"] = False

    def walk(self):
        yield self
        for child in self.children:
            for widget in child.walk():
                yield widget


class Handlers(object):
    """``win.On.<ID>.<Event> = fn``."""

    def __init__(self):
        # type: () -> None
        object.__setattr__(self, "table", {})

    def __getattr__(self, widget_id):
        # type: (str) -> Any
        table = self.table

        class Slot(object):
            def __setattr__(self, event, fn):
                # type: (str, Callable[[Any], None]) -> None
                table[(widget_id, event)] = fn
        return Slot()


class Window(object):
    def __init__(self, app, props, layout):
        # type: (Any, Dict[str, Any], Widget) -> None
        self.app = app
        self.props = props
        self.layout = layout
        self.On = Handlers()
        self.shown = False

    def GetItems(self):
        return dict((w.props["ID"], w) for w in self.layout.walk() if "ID" in w.props)

    def Find(self, widget_id):
        return self.GetItems().get(widget_id)

    def Show(self):
        self.shown = True

    def Hide(self):
        self.shown = False


class Dispatcher(object):
    def __init__(self, app, ui):
        # type: (Any, Any) -> None
        self.app = app
        self.ui = ui
        self.On = Handlers()
        self.windows = []  # type: List[Window]
        self.running = False

    def AddWindow(self, props, layout):
        window = Window(self.app, props, layout)
        self.windows.append(window)
        return window

    def ExitLoop(self):
        self.running = False

    def RunLoop(self):
        self.running = True
        window = self.windows[-1]
        events = list(self.app.state.get("ui_events", []))
        for event in events:
            if not self.running:
                break
            kind = event[0]
            if kind == "set":
                setattr(window.Find(event[1]), event[2], event[3])
            elif kind == "click":
                handler = window.On.table.get((event[1], "Clicked"))
                if handler is not None:
                    handler({"who": event[1]})
            elif kind == "tick":
                handler = self.On.table.get(("Tick", "Timeout"))
                if handler is not None:
                    handler({"who": "Tick"})
            elif kind == "until":  # the timer firing until the editor sees the words
                widget, words, seconds = event[1], event[2], float(event[3])
                handler = self.On.table.get(("Tick", "Timeout"))
                deadline = time.time() + seconds
                while handler is not None and time.time() < deadline \
                        and words not in str(window.Find(widget).Text):
                    time.sleep(0.25)  # Resolve's fires every 2 s; a test need not wait that
                    handler({"who": "Tick"})
            elif kind == "close":
                handler = window.On.table.get((window.props.get("ID"), "Close"))
                if handler is not None:
                    handler({"who": "close"})
        self.running = False


class FakeUIManager(object):
    def __init__(self, app):
        # type: (Any) -> None
        self.app = app

    def __getattr__(self, kind):
        # type: (str) -> Any
        if kind.startswith("_"):
            raise AttributeError(kind)
        app = self.app

        def make(props=None, children=None):
            # type: (Any, Any) -> Widget
            if isinstance(props, list):  # ui.VGroup([children])
                props, children = {}, props
            return Widget(app, kind, props, children)
        return make


class FakeFusion(object):
    def __init__(self, app):
        # type: (Any) -> None
        self._app = app

    def __dir__(self):
        # type: () -> List[str]
        return ["UIManager"]

    @property
    def UIManager(self):
        app = self._app
        app.log("fu.UIManager")
        if not app.studio and app.version >= (19, 1, 0):
            app.upsell("UIManager")
            return None
        return FakeUIManager(app)


class FakeBmd(object):
    def __init__(self, app):
        # type: (Any) -> None
        self._app = app

    def __dir__(self):
        # type: () -> List[str]
        return ["UIDispatcher", "scriptapp"]

    def UIDispatcher(self, ui):
        return Dispatcher(self._app, ui)

    def scriptapp(self, name):
        return self._app.resolve if name == "Resolve" else None
