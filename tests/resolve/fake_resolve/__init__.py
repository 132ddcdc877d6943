"""A fake DaVinci Resolve for the plugin's tests, standing in for the real one the way
httpx's MockTransport stands in for a network: the same objects, the same calls, the same
answers -- including the ones Resolve gets wrong (see ``api``'s docstring).

``FakeResolveApp`` holds a Resolve session as JSON-ready state (project, media pool,
timelines, items, takes, markers) and hands out the API objects a script sees:
``app.namespace()`` is the globals Resolve injects into a Workspace > Scripts script
(``resolve``, ``fu``/``fusion``, ``bmd``, ``app``). ``save``/``load`` carry the session
between script runs, which are separate processes in Resolve too. Test-only controls
(``select``, which Resolve has no API for, and the edition/version) are methods of the app,
never of the API objects. Standard library only, Python 3.6+, like the plugin it tests.
"""

import json
import uuid
from fractions import Fraction
from typing import Any, Dict, List, Optional, Tuple  # noqa: F401

from . import media as media_facts
from .api import (CLIP_COLOURS, GATES, MARKER_COLOURS, Fabricated, MediaPoolItem,  # noqa: F401
                  Resolve, Timeline, TimelineItem, floor_frames)
from .ui import FakeBmd, FakeFusion

__all__ = ["CLIP_COLOURS", "MARKER_COLOURS", "FakeResolveApp"]

STUDIO = "DaVinci Resolve Studio"
FREE = "DaVinci Resolve"


class FakeApp(object):
    """The undocumented ``app`` global: ``app.GetResolve()``."""

    def __init__(self, resolve):
        # type: (Any) -> None
        self._resolve = resolve

    def __dir__(self):
        # type: () -> List[str]
        return ["GetResolve"]

    def GetResolve(self):
        return self._resolve


class FakeResolveApp(object):
    def __init__(self, state=None, product=STUDIO, version=(19, 1, 3, 7)):
        # type: (Optional[Dict[str, Any]], str, Tuple[int, ...]) -> None
        self.state = state or {
            "product": product, "version": [*list(version), ""], "modal": None, "upsells": 0,
            "next_id": 1, "log": [], "rate_style": "rounded", "ui_events": [], "ui_shown": [],
            "project": None}
        self.resolve = Resolve(self)
        self.fusion = FakeFusion(self)
        self.bmd = FakeBmd(self)
        if self.state["project"] is None:
            self.new_project("Kling test")

    # ------------------------------------------------------------------ persistence

    def save(self, path):
        # type: (str) -> None
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.state, fh, indent=1, sort_keys=True)

    @classmethod
    def load(cls, path):
        # type: (str) -> FakeResolveApp
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def namespace(self):
        # type: () -> Dict[str, Any]
        """The globals Resolve injects into a Workspace > Scripts script."""
        return {"resolve": self.resolve, "fu": self.fusion, "fusion": self.fusion,
                "bmd": self.bmd, "app": FakeApp(self.resolve)}

    # ------------------------------------------------------------------ edition

    @property
    def version(self):
        # type: () -> Tuple[int, ...]
        return tuple(int(v) for v in self.state["version"][:3])

    @property
    def studio(self):
        # type: () -> bool
        return "studio" in self.state["product"].lower()

    def available(self, owner, name):
        # type: (str, str) -> bool
        gate = GATES.get((owner, name))
        return gate is None or self.version >= gate

    def upsell(self, feature):
        # type: (str) -> None
        """The free edition's 'You have reached a limitation' modal: it blocks later calls."""
        self.state["upsells"] += 1
        self.state["modal"] = "upsell: " + feature
        self.log("upsell modal: " + feature)

    def log(self, text):
        # type: (str) -> None
        """Notable events (fabricated names, modals, dropped appends), in order."""
        self.state["log"].append(text)

    def count(self, call):
        # type: (str) -> None
        """How often each API name was used (the state stays small over many runs)."""
        calls = self.state.setdefault("calls", {})
        calls[call] = calls.get(call, 0) + 1

    def new_id(self, prefix):
        # type: (str) -> str
        number = self.state["next_id"]
        self.state["next_id"] = number + 1
        # unique across sessions, as Resolve's GUIDs are (tests share one daemon)
        return "%s-%s-%d" % (prefix, uuid.uuid4().hex[:8], number)

    # ------------------------------------------------------------------ state helpers

    def new_project(self, name, rate="24", width=1920, height=1080):
        # type: (str, str, int, int) -> None
        root = {"id": self.new_id("folder"), "name": "Master", "clips": [], "folders": []}
        self.state["project"] = {
            "id": str(uuid.uuid4()), "name": name, "media": {}, "root": root,
            "current_folder": root["id"], "timelines": [], "current": None,
            "settings": {"timelineFrameRate": rate, "timelineResolutionWidth": str(width),
                         "timelineResolutionHeight": str(height)}}

    def folder(self, folder_id):
        # type: (str) -> Dict[str, Any]
        stack = [self.state["project"]["root"]]
        while stack:
            folder = stack.pop()
            if folder["id"] == folder_id:
                return folder
            stack.extend(folder["folders"])
        raise KeyError(folder_id)

    def media(self, media_id):
        # type: (Optional[str]) -> Optional[Dict[str, Any]]
        return self.state["project"]["media"].get(media_id) if media_id else None

    def find_media(self, path):
        # type: (str) -> Optional[Dict[str, Any]]
        for entry in self.state["project"]["media"].values():
            if entry["props"]["File Path"] == path:
                return entry
        return None

    def timeline(self, timeline_id):
        # type: (str) -> Dict[str, Any]
        for timeline in self.state["project"]["timelines"]:
            if timeline["id"] == timeline_id:
                return timeline
        raise KeyError(timeline_id)

    def current_timeline(self):
        # type: () -> Optional[Dict[str, Any]]
        current = self.state["project"]["current"]
        return self.timeline(current) if current else None

    def rate_text(self, timeline):
        # type: (Dict[str, Any]) -> str
        rate = Fraction(timeline["rate"])
        if self.state.get("rate_style") == "whole":
            return str(round(rate))
        return media_facts.rounded_rate(rate) + (" DF" if timeline.get("drop") else "")

    def new_timeline(self, name):
        # type: (str) -> Timeline
        settings = self.state["project"]["settings"]
        text = settings["timelineFrameRate"]
        rate = media_facts.exact(text)
        drop = "DF" in text.upper().replace("NDF", "")
        start = media_facts.timecode_frames("01:00:00;00" if drop else "01:00:00:00", rate)
        entry = {"id": self.new_id("timeline"), "name": name,
                 "rate": "%d/%d" % (rate.numerator, rate.denominator), "drop": drop,
                 "start": start, "playhead": start,
                 "width": int(settings["timelineResolutionWidth"]),
                 "height": int(settings["timelineResolutionHeight"]),
                 "video": [{"name": "Video 1", "items": []}],
                 "audio": [{"name": "Audio 1", "items": []}],
                 "markers": [], "marks": {}, "selected": []}
        self.state["project"]["timelines"].append(entry)
        if not self.state["project"]["current"]:
            self.state["project"]["current"] = entry["id"]
        return Timeline(self, entry["id"])

    def _all_items(self):
        for timeline in self.state["project"]["timelines"]:
            for kind in ("video", "audio"):
                for number, track in enumerate(timeline[kind], 1):
                    for item in track["items"]:
                        yield timeline, kind, number, item

    def find_item(self, item_id):
        # type: (str) -> Optional[Dict[str, Any]]
        index = getattr(self, "_index", None)
        if index is None or item_id not in index:  # new items since: index again
            index = self._index = dict((i["id"], i) for _t, _k, _n, i in self._all_items())
        item = index.get(item_id)
        return item if item is not None and item["id"] == item_id else None

    def item_place(self, item_id):
        # type: (str) -> Optional[Tuple[str, int]]
        for _t, kind, number, item in self._all_items():
            if item["id"] == item_id:
                return kind, number
        return None

    def timeline_of(self, item_id):
        # type: (str) -> Dict[str, Any]
        for timeline, _k, _n, item in self._all_items():
            if item["id"] == item_id:
                return timeline
        raise KeyError(item_id)

    def source_length(self, item):
        # type: (Dict[str, Any]) -> int
        media = self.media(item.get("media"))
        timeline = self.timeline_of(item["id"])
        if media is None:
            return item["duration"]
        return round(Fraction(item["duration"]) * Fraction(media["props"]["_rate"])
                         / Fraction(timeline["rate"]))

    def to_timeline(self, frames, media_rate, timeline):
        # type: (int, Fraction, Dict[str, Any]) -> int
        return floor_frames(frames, media_rate, Fraction(timeline["rate"]))

    def append(self, timeline, info):
        # type: (Dict[str, Any], Dict[str, Any]) -> List[Any]
        """One clipInfo of ``AppendToTimeline`` (see api's docstring for the rules)."""
        media_item = info.get("mediaPoolItem")
        if not isinstance(media_item, MediaPoolItem):
            return []
        media = self.media(media_item._id)
        if media is None:  # deleted from the pool since: nothing to append
            return []
        props = media["props"]
        total = int(props["Frames"])
        start = int(info.get("startFrame", 0))
        end = int(info.get("endFrame", total))  # exclusive
        if not 0 <= start < end <= total:
            return []
        duration = floor_frames(end - start, Fraction(props["_rate"]), Fraction(timeline["rate"]))
        if duration <= 0:
            return []
        media_type = info.get("mediaType")
        kinds = ["video"] if media_type == 1 else ["audio"] if media_type == 2 else \
            (["video", "audio"] if props["_audio"] else ["video"])
        track_index = int(info.get("trackIndex", 1))
        link = self.new_id("link") if len(kinds) == 2 else None
        out = []  # type: List[Any]
        for kind in kinds:
            tracks = timeline[kind]
            if not 1 <= track_index <= len(tracks):
                out.append(TimelineItem(self, self.new_id("ghost")))
                continue
            items = tracks[track_index - 1]["items"]
            default = max([timeline["start"]] + [i["start"] + i["duration"] for i in items])
            record = int(info.get("recordFrame", default))
            if any(i["start"] < record + duration and record < i["start"] + i["duration"]
                   for i in items):
                self.log("append dropped: %s track %d frame %d overlaps" % (kind, track_index,
                                                                           record))
                out.append(TimelineItem(self, self.new_id("ghost")))
                continue
            item = {"id": self.new_id("item"), "name": media["name"], "media": media["id"],
                    "start": record, "duration": duration, "left": start, "colour": "",
                    "enabled": True, "markers": [], "takes": [], "take": 0, "link": link}
            items.append(item)
            out.append(TimelineItem(self, item["id"]))
        return out

    # ------------------------------------------------------------------ test controls

    def select(self, timeline, items):
        # type: (Any, List[Any]) -> None
        """What the editor's mouse does (Resolve has no API to set a selection)."""
        self.timeline(timeline._id)["selected"] = [i._id for i in items]

    def items(self, kind="video", track=None, timeline=None):
        # type: (str, Optional[int], Optional[Dict[str, Any]]) -> List[Dict[str, Any]]
        """The raw state of a track's items (for assertions)."""
        timeline = timeline or self.current_timeline()
        assert timeline is not None, "no current timeline"
        tracks = timeline[kind] if track is None else [timeline[kind][track - 1]]
        return sorted((i for t in tracks for i in t["items"]), key=lambda i: i["start"])
