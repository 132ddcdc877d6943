"""Every call into DaVinci Resolve's scripting API lives in this module (but the window's
Fusion UI Manager widgets: ``window.py``).

The rest of the plugin works on plain data (``model``); this module reads Resolve into that
data and carries out the edits the pure modules planned. It follows what Resolve really
does, measured on real builds (see hosts.md), not only what its README says:

- ``hasattr`` is always True on Resolve objects, so capabilities are probed with ``dir()``;
- ``GetSelectedClips`` exists only from 21.0.4; ``EXPORT_OTIO`` only from 18.5;
- the free edition from 19.1 has no ``fu.UIManager`` (touching it opens an upsell dialog
  that breaks later calls), and free 21.1+ runs only Lua from the Scripts menu;
- ``ImportMedia`` of a file the pool already holds returns an empty list;
- ``AppendToTimeline`` drops overlapping clips silently; ``endFrame`` is exclusive;
- ``GetSetting("timelineFrameRate")`` is rounded text; ``GetLeftOffset`` is the exact
  source in-point (``GetSourceStartFrame`` can be a frame off).
"""

import json
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Tuple  # noqa: F401 (type comments)

from .frames import exact_rate, is_drop_frame, timecode_to_frames
from .model import Item, Marker, Refusal, TimelineFacts
from .placement import same_file
from .window import show_window


class HostError(Refusal):
    """Resolve cannot do what was asked; ``str()`` says why and what to do."""


def has(obj, name):
    # type: (Any, str) -> bool
    """Whether a Resolve object really offers ``name`` (``hasattr`` always says yes)."""
    if obj is None:
        return False
    try:
        return name in dir(obj)
    except Exception:
        return False


def _int(value, default=0):
    # type: (Any, int) -> int
    try:
        return round(float(value))
    except (TypeError, ValueError):
        return default


def _list(value):
    # type: (Any) -> List[Any]
    """Resolve answers a list, a {1: x, 2: y} dict (older builds) or None."""
    if not value:
        return []
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    return list(value)


def connect(namespace):
    # type: (Dict[str, Any]) -> Any
    """The ``resolve`` object: injected inside Resolve, else through DaVinciResolveScript."""
    resolve = namespace.get("resolve")  # type: Any
    app = namespace.get("app")  # type: Any
    if resolve is None and has(app, "GetResolve"):
        resolve = app.GetResolve()
    bmd = namespace.get("bmd")  # type: Any
    if resolve is None and has(bmd, "scriptapp"):
        resolve = bmd.scriptapp("Resolve")
    if resolve is None:
        try:
            import DaVinciResolveScript  # Resolve's own module (Studio)
        except ImportError:
            DaVinciResolveScript = None
        if DaVinciResolveScript is not None:
            resolve = DaVinciResolveScript.scriptapp("Resolve")
    if resolve is None:
        raise HostError(
            "cannot reach DaVinci Resolve",
            "run this from Workspace > Scripts inside Resolve; from outside, only Resolve "
            "Studio answers (Preferences > System > General > External scripting: Local)")
    return resolve


class Host(object):
    """One Resolve session: the product, the open project and its current timeline."""

    def __init__(self, resolve, fusion=None, bmd=None):
        # type: (Any, Any, Any) -> None
        self.resolve = resolve
        self.fusion = fusion
        self.bmd = bmd
        self.product = str(resolve.GetProductName() or "DaVinci Resolve")
        fields = _list(resolve.GetVersion())
        self.version = tuple(_int(f) for f in fields[:3]) + (0,) * (3 - len(fields[:3]))
        self.studio = "studio" in self.product.lower()
        self._caps = {}  # type: Dict[Tuple[str, str], bool]
        self._media = {}  # type: Dict[str, Tuple[str, Any, Optional[int], int]]

    @classmethod
    def from_namespace(cls, namespace):
        # type: (Dict[str, Any]) -> Host
        resolve = connect(namespace)
        fusion = namespace.get("fu") or namespace.get("fusion")
        if fusion is None and has(resolve, "Fusion"):
            fusion = resolve.Fusion()
        return cls(resolve, fusion, namespace.get("bmd"))

    # ------------------------------------------------------------------ edition

    def describe(self):
        # type: () -> str
        return "%s %s" % (self.product, ".".join(str(v) for v in self.version))

    @property
    def lua_only(self):
        # type: () -> bool
        """Free Resolve 21.1+ lists only Lua scripts: Python scripts cannot be run from it."""
        return not self.studio and self.version >= (21, 1, 0)

    @property
    def dialogs(self):
        # type: () -> bool
        """Whether ``fu.UIManager`` may be touched (never on free 19.1+: an upsell modal)."""
        return self.fusion is not None and (self.studio or self.version < (19, 1, 0))

    # ------------------------------------------------------------------ reading

    def project(self):
        # type: () -> Any
        manager = self.resolve.GetProjectManager()
        project = manager.GetCurrentProject() if manager else None
        if not project:
            raise HostError("no project is open", "open the project, then run the script again")
        return project

    def project_key(self):
        # type: () -> Tuple[str, str]
        """(key, name): the project's unique id where Resolve has one, else its name."""
        project = self.project()
        name = str(project.GetName() or "")
        uid = str(project.GetUniqueId() or "") if has(project, "GetUniqueId") else ""
        return (uid or "name:" + name), name

    def current_timeline(self):
        # type: () -> Any
        """The open timeline, or None."""
        return self.project().GetCurrentTimeline() or None

    def timeline(self):
        # type: () -> Any
        timeline = self.current_timeline()
        if not timeline:
            raise HostError("no timeline is open", "open the timeline in the Edit page first")
        return timeline

    def timeline_uid(self, timeline):
        # type: (Any) -> str
        return str(timeline.GetUniqueId() or "") if has(timeline, "GetUniqueId") else \
            "name:" + str(timeline.GetName())

    def find_timeline(self, uid):
        # type: (str) -> Any
        project = self.project()
        for index in range(1, _int(project.GetTimelineCount()) + 1):
            timeline = project.GetTimelineByIndex(index)
            if timeline and self.timeline_uid(timeline) == uid:
                return timeline
        return None

    def _setting(self, timeline, key):
        # type: (Any, str) -> str
        value = timeline.GetSetting(key) if has(timeline, "GetSetting") else None
        if value in (None, ""):
            value = self.project().GetSetting(key)
        return str(value or "")

    def can(self, role, obj, name):
        # type: (str, Any, str) -> bool
        """``has`` asked once per kind of object: every TimelineItem offers the same calls,
        and each ``dir()`` is a round trip to Resolve."""
        key = (role, name)
        if key not in self._caps:
            self._caps[key] = has(obj, name)
        return self._caps[key]

    def item(self, handle, track, kind="video"):
        # type: (Any, int, str) -> Item
        """Where one TimelineItem is (id, name, record frames): four calls, so a 5,000-clip
        timeline reads quickly. :meth:`complete` adds the rest for the items that matter."""
        uid = str(handle.GetUniqueId() or "") if self.can("item", handle, "GetUniqueId") else ""
        start = _int(handle.GetStart())
        end = _int(handle.GetEnd())  # exclusive, like everything Resolve counts
        item = Item(uid, str(handle.GetName() or ""), track, start, end, kind=kind,
                    handle=handle)
        item.colour = None  # read on demand (colour_of)
        item.complete = False
        return item

    def colour_of(self, item):
        # type: (Item) -> str
        if item.colour is None:
            handle = item.handle
            item.colour = str(handle.GetClipColor() or "") \
                if self.can("item", handle, "GetClipColor") else ""
        return item.colour

    def complete(self, items):
        # type: (List[Item]) -> List[Item]
        """Source in-point, enabled, takes, and the media file's path, rate, length and
        start timecode (read once per media file) of ``items``."""
        for item in items:
            if item.complete:
                continue
            handle = item.handle
            if self.can("item", handle, "GetLeftOffset"):
                item.left_offset = _int(handle.GetLeftOffset())
            if self.can("item", handle, "GetClipEnabled"):
                item.enabled = handle.GetClipEnabled() is not False
            if self.can("item", handle, "GetTakesCount"):
                item.takes = _int(handle.GetTakesCount())
            media = handle.GetMediaPoolItem() if self.can("item", handle, "GetMediaPoolItem") \
                else None
            if media:
                item.path, item.media_rate, item.media_frames, item.media_start = \
                    self._media_facts(media)
            item.complete = True
        return items

    def _media_facts(self, media):
        # type: (Any) -> Tuple[str, Any, Optional[int], int]
        key = str(media.GetMediaId() if self.can("media", media, "GetMediaId")
                  else media.GetUniqueId())
        known = self._media.get(key)
        if known is not None:
            return known
        props = media.GetClipProperty()  # every property in one call
        if not isinstance(props, dict):
            props = dict((k, media.GetClipProperty(k)) for k in
                         ("File Path", "FPS", "Frames", "Start TC"))
        rate = None
        fps = props.get("FPS")
        try:
            rate = exact_rate(fps) if fps else None
        except ValueError:
            rate = None
        start = 0
        if props.get("Start TC") and rate:
            try:
                start = timecode_to_frames(str(props["Start TC"]), rate)
            except ValueError:
                start = 0
        facts = (str(props.get("File Path") or ""), rate,
                 _int(props.get("Frames"), 0) or None, start)
        self._media[key] = facts
        return facts

    def track_count(self, timeline, kind="video"):
        # type: (Any, str) -> int
        return _int(timeline.GetTrackCount(kind))

    def track_items(self, timeline, track, kind="video"):
        # type: (Any, int, str) -> List[Item]
        """A fresh read of one track (what verification trusts, not append's return)."""
        handles = _list(timeline.GetItemListInTrack(kind, track))
        return [self.item(h, track, kind) for h in handles if h]

    def facts(self, timeline=None, read_items=True):
        # type: (Any, bool) -> TimelineFacts
        """The timeline's rate, start, size, tracks, playhead, marks and markers, and (with
        ``read_items``) where every item is."""
        timeline = timeline or self.timeline()
        rate_text = self._setting(timeline, "timelineFrameRate")
        try:
            rate = exact_rate(rate_text or "24")
        except ValueError:
            raise HostError("cannot read the timeline frame rate %r" % rate_text) from None
        drop = is_drop_frame(rate_text) or \
            self._setting(timeline, "timelineDropFrameTimecode") in ("1", "true", "True")
        facts = TimelineFacts(
            name=str(timeline.GetName() or ""), uid=self.timeline_uid(timeline), rate=rate,
            start=_int(timeline.GetStartFrame()), drop=drop,
            width=_int(self._setting(timeline, "timelineResolutionWidth"), 1920),
            height=_int(self._setting(timeline, "timelineResolutionHeight"), 1080),
            video_tracks=_int(timeline.GetTrackCount("video")),
            audio_tracks=_int(timeline.GetTrackCount("audio")))
        facts.end = _int(timeline.GetEndFrame()) if has(timeline, "GetEndFrame") else None
        for kind, count in (("video", facts.video_tracks), ("audio", facts.audio_tracks)):
            for track in range(1, count + 1 if read_items else 1):
                facts.items.extend(self.track_items(timeline, track, kind))
        if has(timeline, "GetCurrentTimecode"):
            timecode = str(timeline.GetCurrentTimecode() or "")
            if timecode:
                try:
                    facts.playhead = timecode_to_frames(timecode, rate, drop or ";" in timecode)
                except ValueError:
                    facts.playhead = None
        if has(timeline, "GetMarkInOut"):
            marks = timeline.GetMarkInOut() or {}
            picked = marks.get("video") or marks.get("audio") or {}
            facts.marks = dict((k, _int(v)) for k, v in picked.items() if k in ("in", "out"))
        if has(timeline, "GetMarkers"):
            for offset, info in sorted((timeline.GetMarkers() or {}).items()):
                info = info or {}
                facts.markers.append(Marker(
                    facts.start + _int(offset), str(info.get("name", "")),
                    str(info.get("note", "")), str(info.get("color", "")),
                    max(1, _int(info.get("duration", 1), 1)), str(info.get("customData", ""))))
        return facts

    def selected_ids(self, timeline):
        # type: (Any) -> Optional[List[str]]
        """The selected items' ids, or None where Resolve has no selection API (< 21.0.4)."""
        if not has(timeline, "GetSelectedClips"):
            return None
        return [str(h.GetUniqueId()) for h in _list(timeline.GetSelectedClips()) if h]

    def current_id(self, timeline):
        # type: (Any) -> Optional[str]
        if not has(timeline, "GetCurrentVideoItem"):
            return None
        handle = timeline.GetCurrentVideoItem()
        return str(handle.GetUniqueId()) if handle and has(handle, "GetUniqueId") else None

    # ------------------------------------------------------------------ export

    def export_otio(self, timeline):
        # type: (Any) -> Optional[Dict[str, Any]]
        """Resolve's own OTIO of ``timeline`` (18.5+), or None where it cannot export."""
        if not has(self.resolve, "EXPORT_OTIO") or not has(timeline, "Export"):
            return None
        folder = tempfile.mkdtemp(prefix="kling-bridge-resolve-")
        path = os.path.join(folder, "timeline.otio")
        try:
            subtype = self.resolve.EXPORT_NONE if has(self.resolve, "EXPORT_NONE") else 0
            ok = timeline.Export(path, self.resolve.EXPORT_OTIO, subtype)
            if not ok or not os.path.isfile(path) or os.path.getsize(path) == 0:
                return None
            with open(path, encoding="utf-8") as fh:
                document = json.load(fh)  # type: Dict[str, Any]
            return document
        except ValueError:
            return None
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------------ media pool

    def _bin(self, pool, name):
        # type: (Any, str) -> Any
        root = pool.GetRootFolder()
        for folder in _list(root.GetSubFolderList()):
            if str(folder.GetName()) == name:
                return folder
        folder = pool.AddSubFolder(root, name)
        if not folder:
            raise HostError("cannot make the Media Pool bin %r" % name,
                            "check the project is not read-only (collaboration lock)")
        return folder

    def _find_in(self, folder, path, depth=0):
        # type: (Any, str, int) -> Any
        for clip in _list(folder.GetClipList()):
            if same_file(str(clip.GetClipProperty("File Path") or ""), path):
                return clip
        if depth < 8:
            for sub in _list(folder.GetSubFolderList()):
                found = self._find_in(sub, path, depth + 1)
                if found:
                    return found
        return None

    def import_media(self, path, bin_name):
        # type: (str, str) -> Any
        """The media pool item of ``path``, imported into ``bin_name`` (or found again:
        Resolve answers an empty list for a file it already holds)."""
        pool = self.project().GetMediaPool()
        target = self._bin(pool, bin_name)
        previous = pool.GetCurrentFolder()
        try:
            pool.SetCurrentFolder(target)
            imported = _list(pool.ImportMedia([path]))
        finally:
            if previous:
                pool.SetCurrentFolder(previous)
        if imported:
            return imported[0]
        found = self._find_in(target, path) or self._find_in(pool.GetRootFolder(), path)
        if not found:
            raise HostError("Resolve would not import %s" % path,
                            "check that the file plays; import it by hand if it does")
        return found

    # ------------------------------------------------------------------ edits

    def take_paths(self, handle):
        # type: (Any) -> List[str]
        paths = []  # type: List[str]
        if not has(handle, "GetTakesCount"):
            return paths
        for index in range(1, _int(handle.GetTakesCount()) + 1):
            take = handle.GetTakeByIndex(index) or {}
            media = take.get("mediaPoolItem")
            paths.append(str(media.GetClipProperty("File Path") or "") if media else "")
        return paths

    def add_take(self, handle, media, frames):
        # type: (Any, Any, int) -> bool
        """The result as a new take on the item, shown (``endFrame`` exclusive)."""
        if not has(handle, "AddTake"):
            raise HostError("this Resolve cannot add takes to a clip",
                            'set "placement": "track" in the settings to get a track above')
        if not handle.AddTake(media, 0, int(frames)):
            return False
        return bool(handle.SelectTakeByIndex(_int(handle.GetTakesCount())))

    def add_track(self, timeline, kind, name=""):
        # type: (Any, str, str) -> int
        """A new track on top; its 1-based number."""
        added = timeline.AddTrack(kind) if kind == "video" else timeline.AddTrack(kind, "stereo")
        if not added:
            raise HostError("Resolve would not add a %s track" % kind)
        number = _int(timeline.GetTrackCount(kind))
        if name and has(timeline, "SetTrackName"):
            timeline.SetTrackName(kind, number, name)
        return number

    def append(self, media, info):
        # type: (Any, Dict[str, Any]) -> List[Any]
        """``AppendToTimeline`` on the current timeline. Its answer proves nothing: verify."""
        clip = dict(info)
        clip["mediaPoolItem"] = media
        return _list(self.project().GetMediaPool().AppendToTimeline([clip]))

    def add_marker(self, handle, colour, name, note, custom, duration=1, frame=0):
        # type: (Any, str, str, str, str, int, int) -> bool
        """A marker on the item's ``frame`` (from its first) carrying ``custom`` (the job
        id); Resolve keeps one marker per frame."""
        if not has(handle, "AddMarker"):
            return False
        return bool(handle.AddMarker(int(frame), colour, name, note, duration, custom))

    def has_marker(self, handle, custom):
        # type: (Any, str) -> bool
        if has(handle, "GetMarkerByCustomData"):
            return bool(handle.GetMarkerByCustomData(custom))
        return any((m or {}).get("customData") == custom
                   for m in (handle.GetMarkers() or {}).values()) if has(handle, "GetMarkers") \
            else False

    def is_current(self, timeline):
        # type: (Any) -> bool
        current = self.project().GetCurrentTimeline()
        return bool(current) and self.timeline_uid(current) == self.timeline_uid(timeline)

    # ------------------------------------------------------------------ dialog

    def run_dialog(self, controller):
        # type: (Any) -> None
        """The Kling Bridge window (``fu.UIManager``), wired to ``controller``'s handlers."""
        if not self.dialogs:
            raise HostError("this Resolve offers scripts no dialogs (free edition 19.1+)",
                            "use the Edit scripts: they run with the settings file")
        if self.bmd is None or not has(self.bmd, "UIDispatcher"):
            raise HostError("the window needs Resolve's own script globals",
                            "open it from Workspace > Scripts > Utility > Kling Bridge")
        show_window(self.fusion.UIManager, self.bmd.UIDispatcher(self.fusion.UIManager),
                    controller)
