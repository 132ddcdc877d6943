"""Putting one finished job back on the timeline: a take on its clip, a clip on a track
above, or B-roll on the first free track -- each checked by reading the track again.

A mixin of :class:`.actions.Session` (it uses the session's host, settings, ledger and
``say``), kept apart because placing is its own concern: what the daemon made, where it goes,
and whether Resolve really put it there.
"""

from typing import Any, Callable, Dict, List, Optional  # noqa: F401

from . import placement
from .frames import frames_to_timecode, media_count
from .host import Host, HostError  # noqa: F401
from .ledger import Ledger  # noqa: F401
from .model import TimelineFacts  # noqa: F401


class Applying(object):
    """The placing half of a :class:`.actions.Session`."""

    host = None  # type: Host
    settings = None  # type: Dict[str, Any]
    ledger = None  # type: Ledger
    key = ""  # type: str
    _progress = None  # type: Dict[str, str]
    say = print  # type: Callable[[str], None]  # Session sets its own

    def _video(self, job):
        # type: (Dict[str, Any]) -> Optional[Dict[str, Any]]
        outputs = (job.get("result") or {}).get("outputs", [])  # type: List[Dict[str, Any]]
        for output in outputs:
            if output.get("role") == "video":
                return output
        return None

    def _timeline_for(self, entry, needs_current):
        # type: (Dict[str, Any], bool) -> Any
        """The batch's timeline; None to wait when placing needs it open and it is not."""
        current = self.host.current_timeline()
        if current and self.host.timeline_uid(current) == entry["timeline"]:
            return current
        other = self.host.find_timeline(entry["timeline"])
        if other is None:
            raise HostError("the timeline %r is gone" % entry.get("timeline_name"))
        if needs_current:
            return None
        return other

    def _apply(self, entry, job):
        # type: (Dict[str, Any], Dict[str, Any]) -> Optional[str]
        """Put one finished job's video on the timeline; the outcome word, or None to wait."""
        spec = job.get("spec") or {}
        if entry["kind"] != "restyle" and not (spec.get("placement") or spec.get("clip")):
            return "fed the next link"  # a chain's generated clip: only its restyle is placed
        video = self._video(job)
        label = job.get("label", job["id"])
        if video is None:
            self.say("! %s finished without a video" % label)
            return "failed: no video"
        path, frames = video["path"], int(video.get("frames") or 0)
        mode = entry.get("mode", "take")
        try:
            timeline = self._timeline_for(entry, needs_current=mode != "take")
            if timeline is None:
                if self._progress.get(job["id"]) != "other":
                    self.say("  %s is ready for timeline %r: open it and run Kling Bridge - "
                             "Collect" % (label, entry.get("timeline_name")))
                    self._progress[job["id"]] = "other"
                return None
            media = self.host.import_media(path, self.settings["bin"])
            custom = placement.marker_custom(job["id"], entry["batch_id"])
            if entry["kind"] == "restyle":
                problem = self._apply_restyle(entry, job, timeline, media, path, frames, custom)
            else:
                problem = self._apply_broll(entry, job, timeline, media, video, custom)
        except HostError as exc:
            problem = str(exc)
        if problem:
            self.say("! %s: %s (the result is in the %r bin: %s)"
                     % (label, problem, self.settings["bin"], path))
            return "failed: " + problem
        self.ledger.result(self.key, path, {"job": job["id"], "batch": entry["batch_id"],
                                            "kind": job.get("kind", entry["kind"]),
                                            "look": (spec.get("look") or {}).get("preset")
                                            or entry.get("look") or ""})
        return "applied"

    def _apply_restyle(self, entry, job, timeline, media, path, frames, custom):
        # type: (Dict[str, Any], Dict[str, Any], Any, Any, str, int, str) -> Optional[str]
        clip = (job.get("spec") or {}).get("clip") or {}
        target = entry["targets"].get(clip.get("clip_id"))
        if target is None:
            return "the daemon answered for a clip this batch did not send"
        facts = self.host.facts(timeline, read_items=False)
        item = None
        for found in self.host.track_items(timeline, target["track"]):
            if found.uid == clip["clip_id"]:
                item = self.host.complete([found])[0]
        if item is None or (item.start, item.end, item.track) != (
                target["start"], target["end"], target["track"]):
            return ("%r was moved, trimmed or deleted since it was sent; the result no "
                    "longer fits it" % target["name"])
        expected = item.duration  # media frames that cover the item, at the media's rate
        if item.media_rate:
            expected = media_count(item.duration, facts.rate, item.media_rate)
        if frames and abs(frames - expected) > 1:
            return "the result has %d frames but %r needs %d" % (frames, item.name, expected)
        frames = frames or expected
        if entry.get("mode") == "track":
            return self._place(timeline, facts, media, path, frames, item.duration, item.start,
                               item.track + 1, "%s (%s)" % (item.name, entry.get("look")),
                               custom, track_name="Kling %s" % entry.get("look"))
        if any(placement.same_file(p, path) for p in self.host.take_paths(item.handle)):
            return None  # applied by an earlier run that stopped before recording it
        takes_before = item.takes
        if not self.host.add_take(item.handle, media, frames):
            return "Resolve would not add the take to %s" % item.describe()
        after = None
        for fresh in self.host.track_items(timeline, item.track):
            if fresh.uid == item.uid:
                after = self.host.complete([fresh])[0]
        problem = placement.check_take(item, after, path, takes_before)
        if problem or after is None:
            return problem
        # one marker per frame on an item: take n's marker on its frame n - 2
        self.host.add_marker(after.handle, placement.MARKER_COLOUR,
                             "Kling: %s" % entry.get("look"),
                             "take %d: %s" % (after.takes, job.get("label", "")), custom,
                             frame=max(0, min(after.takes - 2, after.duration - 1)))
        self.say("  + %s: take %d on %s" % (job.get("label"), after.takes, item.describe()))
        return None

    def _apply_broll(self, entry, job, timeline, media, video, custom):
        # type: (Dict[str, Any], Dict[str, Any], Any, Any, Dict[str, Any], str) -> Optional[str]
        spot = entry["spots"].get(job["id"])
        if spot is None:
            return "the daemon answered for a B-roll this batch did not ask for"
        facts = self.host.facts(timeline, read_items=False)
        frames = int(video.get("frames") or 0)  # conformed to the timeline's rate
        if frames <= 0:
            return "the B-roll file has no frames"
        if spot.get("frames"):  # ends where its marker (or run of markers) ends
            frames = min(frames, int(spot["frames"]))
        problem = self._place(timeline, facts, media, video["path"], frames, frames,
                              spot["frame"], 1, "B-roll %r" % spot["name"], custom)
        if problem or not video.get("has_audio"):
            return problem
        return self._place(timeline, facts, media, video["path"], frames, frames, spot["frame"],
                           1, "B-roll %r sound" % spot["name"], custom, kind="audio")

    def _place(self, timeline, facts, media, path, frames, length, record, lowest, what,
               custom, kind="video", track_name=""):
        # type: (Any, TimelineFacts, Any, str, int, int, int, int, str, str, str, str) -> Optional[str]
        """Append ``frames`` of the media (``length`` timeline frames) at ``record`` on the
        first free track >= ``lowest`` (a new one if none), then verify by reading it back."""
        track = None
        for number in range(max(1, lowest), self.host.track_count(timeline, kind) + 1):
            items = self.host.track_items(timeline, number, kind)
            here = self.host.complete([i for i in items if i.start == record])
            if any(placement.same_file(i.path, path)
                   and (kind == "audio" or self.host.has_marker(i.handle, custom))
                   for i in here):
                return None  # already there from an earlier run
            if not any(i.overlaps(record, record + length) for i in items):
                track = number  # the first free track: an earlier run's clip is below it
                break
        if track is None:
            track = self.host.add_track(timeline, kind, track_name if kind == "video" else "")
        info = placement.clip_info(0, frames, track, record, 1 if kind == "video" else 2)
        self.host.append(media, info)
        fresh = self.host.track_items(timeline, track, kind)
        self.host.complete([i for i in fresh if i.start == record])
        problem = placement.check_clip(fresh, record, length, path, track, what)
        if problem:
            return problem
        if kind == "video":
            for item in fresh:
                if item.start == record and placement.same_file(item.path, path):
                    self.host.add_marker(item.handle, placement.MARKER_COLOUR, "Kling: " + what,
                                         "made by Kling Bridge", custom)
        self.say("  + %s: %s track %d at %s" % (what, kind, track,
                                               frames_to_timecode(record, facts.rate, facts.drop)))
        return None
