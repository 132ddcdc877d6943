"""The actions that chain Kling's two models, on the clips the editor points at.

- *More like this*: new B-roll in the look of the chosen clip -- a restyled take or clip the
  plugin placed (the daemon follows that job's result and its look's words), or any clip
  (its frames go as the reference) -- right after the clip, on the first free track.
- *Next shot*: the shot that follows the chosen clip, placed the same way.
- *Compare looks*: the first chosen clip restyled in every look of ``compare_looks``, each a
  take; when all have finished, the daemon's comparison picture (the same frames of every
  look side by side, numbered) comes into the bin and its columns are said in the Console.
- *Apply look to the rest*: the look the compared clip is showing (pick it in Resolve's take
  selector and choose that clip with the rest), or the one named by ``apply_look`` (a column
  of the last comparison, or a job id), applied to the other chosen clips.
- *Generate then restyle*: B-roll as "Generate B-roll" makes it, restyled in the settings'
  look before it is placed; only the restyled clip lands.

Each goes through the same :class:`.actions.Session` path as the plain actions: priced
first, remembered with an idempotency key before it is sent, results collected by any
later run.
"""

from typing import Any, Dict, List, Optional, Tuple  # noqa: F401 (type comments)

from . import placement
from .actions import Session  # noqa: F401 (type comments)
from .frames import frames_to_timecode, media_count
from .host import HostError
from .model import Item, TimelineFacts  # noqa: F401 (type comments)
from .selection import Choice, SelectionError  # noqa: F401 (type comments)

WHAT = {"style": "more like this", "next_shot": "next shot"}


def _shown_job(session, item):
    # type: (Session, Item) -> Optional[Dict[str, Any]]
    """The Kling job whose result ``item`` shows (its current take, or the clip itself)."""
    return session.ledger.result_of(session.key, item.path)


def reference_of(session, facts, item, mode):
    # type: (Session, TimelineFacts, Item, str) -> Dict[str, Any]
    """What a generation follows: the job that made what the item shows, else the
    item's own frames (media frames covering it, from its in-point)."""
    made = _shown_job(session, item)
    if made is not None:
        return {"job_id": made["job"], "mode": mode}
    count = item.duration
    if item.media_rate:
        count = media_count(item.duration, facts.rate, item.media_rate)
    return {"clip": {"path": item.path, "start_frame": item.left_offset,
                     "frame_count": count, "name": item.name}, "mode": mode}


def follow(session, mode="style", wait=None):
    # type: (Session, str, Optional[float]) -> List[str]
    """More like this (``mode="style"``) or the next shot (``"next_shot"``) of each chosen
    clip: a silent generation right after it, conformed to the timeline."""
    words = session.settings["broll_prompt"].strip()
    if mode == "next_shot" and not words:
        raise HostError("a next shot needs words: what happens next",
                        'set "broll_prompt" in the settings file (e.g. "she turns and '
                        'walks away")')
    timeline = session.host.timeline()
    facts = session.host.facts(timeline)
    choice = session.choose(timeline, facts)
    for line in choice.tried:
        session.say("  (%s)" % line)
    session.say(choice.summary())
    seconds = session.settings["broll_seconds"]
    bodies = []  # type: List[Tuple[placement.Prompt, Dict[str, Any]]]
    for item in choice.items:
        if not item.path:
            session.say("  - left out %s: it has no media file to follow" % item.describe())
            continue
        reference = reference_of(session, facts, item, mode)
        name = "%s · %s" % (item.name, WHAT[mode])
        prompt = placement.Prompt(words, item.end, seconds, name)
        body = session.broll_body(facts, prompt)
        body["audio"] = False  # Kling follows a clip only with the sound off
        body["reference"] = reference
        bodies.append((prompt, body))
        session.say("  %s of %s, at %s%s" % (
            WHAT[mode], item.describe(), frames_to_timecode(item.end, facts.rate, facts.drop),
            " (following job %s)" % reference["job_id"] if "job_id" in reference else ""))
    if not bodies:
        raise SelectionError("none of the chosen clips has media to follow",
                             "choose a video clip (not a title or generator)")
    return session.send_brolls(facts, bodies, wait)


def compare_looks(session, wait=None):
    # type: (Session, Optional[float]) -> Optional[str]
    """The first chosen clip in every look of ``compare_looks``, each a take."""
    looks = [x.strip() for x in session.settings["compare_looks"].split(",") if x.strip()]
    if len(looks) < 2:
        raise HostError("comparing needs at least two looks",
                        'list them in "compare_looks" in the settings file, e.g. '
                        '"film-noir, anime-cel, watercolor"')

    def first_only(facts, choice):
        # type: (TimelineFacts, Choice) -> None
        if len(choice.items) > 1:
            session.say("  comparing the first chosen clip only (%s); %d others left out"
                        % (choice.items[0].describe(), len(choice.items) - 1))
            del choice.items[1:]

    session.say("Looks to compare: %s" % ", ".join(looks))
    return session.restyle(mode="take", wait=wait, pick=first_only,
                           change={"looks": [{"preset": x} for x in looks], "variants": 1},
                           extra={"compare": True, "look": "compared"})


def _look_from_settings(session):
    # type: (Session) -> Tuple[str, str]
    """(job id, look name) named by ``apply_look``: a column of the last comparison, or a
    job id."""
    wanted = session.settings["apply_look"].strip()
    last = session.ledger.comparison(session.key)
    if wanted.isdigit():
        if last is None:
            raise HostError("apply_look is %s, but this project has no comparison yet"
                            % wanted, "run Kling Bridge - Compare looks first")
        for column in last["columns"]:
            if str(column["index"]) == wanted:
                return column["job_id"], column["look"]
        raise HostError("the last comparison has no look column %s" % wanted,
                        "its columns: " + ", ".join("%d %s" % (c["index"], c["look"])
                                                    for c in last["columns"]))
    if wanted:
        for column in (last or {}).get("columns", []):
            if wanted in (column["job_id"], column["look"]):
                return column["job_id"], column["look"]
        return wanted, "look of " + wanted
    raise HostError("which look? none of the chosen clips shows a restyled take",
                    "show the look you want on the compared clip (its take selector) and "
                    'choose that clip with the rest, or set "apply_look" to a column '
                    "number of the comparison picture")


def apply_look(session, wait=None):
    # type: (Session, Optional[float]) -> Optional[str]
    """The look the chosen compared clip shows (or ``apply_look``'s), on the other clips."""
    change = {"apply_look": {"job_id": "", "to": "rest"}, "variants": 1}  # type: Dict[str, Any]
    extra = {"look": ""}  # type: Dict[str, Any]  # both filled in once the look is known

    def rest(facts, choice):
        # type: (TimelineFacts, Choice) -> None
        shown = [(item, _shown_job(session, item)) for item in choice.items]
        looks = dict((made["job"], (item, made)) for item, made in shown
                     if made is not None and made.get("kind") == "restyle")
        if len(looks) > 1:
            raise SelectionError(
                "the chosen clips show %d different Kling looks (%s)" % (
                    len(looks), ", ".join(item.describe() for item, _ in looks.values())),
                "choose one reference clip showing the look you want, with the rest")
        if looks:
            job_id, (item, made) = next(iter(looks.items()))
            look = made.get("look") or job_id
            session.say("  the look shown on %s: job %s" % (item.describe(), job_id))
            # that clip is left out here, exactly; the daemon's "rest" would also leave out
            # every clip cut from the same frames of the same file (a cut back to the take)
            change["apply_look"]["to"] = "all"
        else:
            job_id, look = _look_from_settings(session)
            session.say("  the look %s (job %s, from the settings)" % (look, job_id))
        change["apply_look"]["job_id"] = job_id
        extra["look"] = look
        for item, made in shown:
            if made is not None:  # already a Kling result: the reference, not the rest
                choice.items.remove(item)
                choice.skipped.append((item, "it shows a Kling result already"))
        if not choice.items:
            raise SelectionError("nothing to restyle besides the reference clip",
                                 "choose the other clips too (select them, or give them "
                                 "the clip colour)")

    return session.restyle(wait=wait, pick=rest, change=change, extra=extra)


def generate_then_restyle(session, wait=None):
    # type: (Session, Optional[float]) -> List[str]
    """B-roll as "Generate B-roll" makes it, restyled in the settings' look first."""
    look = {"preset": session.settings["preset"] or None,
            "prompt": session.settings["prompt"].strip() or None}
    return session.generate(wait=wait, then=dict((k, v) for k, v in look.items() if v))
