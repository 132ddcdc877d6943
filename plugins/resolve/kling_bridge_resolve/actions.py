"""What each Kling Bridge script does, start to finish: the one code path Resolve runs.

Every action first brings in what earlier runs left waiting (``collect``), then does its own
work: read the timeline, choose clips, export and mark, price, submit, remember the batch,
wait briefly while printing progress to the Console, and put each finished result back
(``applying.py``: a take on its clip, a clip on a track above, or B-roll on the first free
track, checked by reading the track again). The daemon does the heavy work; a script that
stops waiting loses nothing, because the next run of any script collects.
"""

import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple  # noqa: F401

from . import marking, placement
from .applying import Applying
from .client import BridgeClient, BridgeError  # noqa: F401
from .frames import frames_to_timecode, rate_text, refine_rate
from .host import Host, HostError  # noqa: F401
from .ledger import Ledger
from .model import Item, TimelineFacts  # noqa: F401
from .selection import Choice, SelectionError, choose  # noqa: F401
from .settings import poll_seconds

ENDED = ("succeeded", "failed", "cancelled", "needs_attention")


def money_text(answer):
    # type: (Dict[str, Any]) -> str
    """The price line: free drafts say so; paid work shows units and dollars."""
    estimate = answer.get("estimate") or {}
    provider = answer.get("provider", "?")
    if answer.get("draft"):
        return "Price: free -- the %s provider renders local drafts, labelled DRAFT" % provider
    if not answer.get("paid"):
        return "Price: free (%s)" % provider
    return "Price: about %.1f units (US$%.2f) on %s" % (
        float(estimate.get("units", 0)), float(estimate.get("usd", 0)), provider)


class Session(Applying):
    """One script run: a Resolve host, the daemon's client, the settings and the ledger;
    putting results back on the timeline is :class:`.applying.Applying`'s part."""

    def __init__(self, host, client, settings, say=print, ledger=None):
        # type: (Host, BridgeClient, Dict[str, Any], Callable[[str], None], Optional[Ledger]) -> None
        self.host = host
        self.client = client
        self.settings = settings
        self.say = say
        self.ledger = ledger or Ledger()
        self.key, self.project_name = host.project_key()
        self._progress = {}  # type: Dict[str, str]
        self._unanswered = set()  # type: Set[str]  # keys asked again this run without an answer
        self.poll = poll_seconds()  # seconds between asks while waiting

    # ------------------------------------------------------------------ restyle

    def restyle_body(self, facts, timeline, items):
        # type: (TimelineFacts, Any, List[Item]) -> Dict[str, Any]
        """The request: Resolve's export with ``items`` marked (or a built timeline)."""
        exported = self.host.export_otio(timeline)
        doc = None
        if exported is not None:
            facts.rate = refine_rate(facts.rate, marking.timeline_rate(exported))
            doc, missing = marking.mark(exported, items, facts.rate, in_place=True)
            for item, why in missing:
                self.say("  ! %s: %s" % (item.describe(), why))
            if len(missing) == len(items):
                self.say("  Resolve's export did not hold the chosen clips; sending the "
                         "clips as read from the timeline instead")
                doc = None
            elif missing:
                self.say("  (%d of %d chosen clips go; the others are left out)"
                         % (len(items) - len(missing), len(items)))
        else:
            self.say("  %s cannot export OTIO: sending the clips as read from the timeline"
                     % self.host.describe())
        if doc is None:
            doc = marking.build(facts, items)
        look = {"preset": self.settings["preset"] or None,
                "prompt": self.settings["prompt"].strip() or None}
        return {"timeline": doc, "look": look, "variants": self.settings["variants"],
                "resolution": self.settings["resolution"],
                "select": {"mode": "marked", "handles": self.settings["handles"]}}

    def check_price(self, answer):
        # type: (Dict[str, Any]) -> None
        self.say(money_text(answer))
        units = float((answer.get("estimate") or {}).get("units", 0))
        if answer.get("paid") and units > self.settings["max_units"]:
            raise BridgeError("over_limit", "this run would cost about %.1f units, over your "
                              "limit of %d" % (units, self.settings["max_units"]),
                              'raise "max_units" in the settings file, or choose fewer clips')

    def choose(self, timeline, facts):
        # type: (Any, TimelineFacts) -> Choice
        """The clips the editor pointed at, by the first selection rule that finds any."""
        return choose(facts, self.settings["clip_colour"], self.host.selected_ids(timeline),
                      self.host.current_id(timeline), self.host.colour_of,
                      self.host.complete)

    def prepare(self, mode=None, pick=None):
        # type: (Optional[str], Optional[Callable[[TimelineFacts, Choice], None]]) -> Tuple[TimelineFacts, Choice, Dict[str, Any]]
        """Choose the clips (saying which rule found them) and build the request; clips
        whose result could not land frame for frame where ``mode`` puts it are left out;
        ``pick`` may narrow the choice further (saying why) before the request is built."""
        timeline = self.host.timeline()
        facts = self.host.facts(timeline)
        choice = self.choose(timeline, facts)
        if pick is not None:
            pick(facts, choice)
        if (mode or self.settings["placement"]) == "track":
            for item in list(choice.items):
                why = placement.cannot_place_on_track(item, facts.rate)
                if why:
                    choice.items.remove(item)
                    choice.skipped.append((item, why))
            if not choice.items:
                raise SelectionError("none of the chosen clips can be restyled onto a track "
                                     "frame for frame: %s" % choice.skipped[0][1])
        for line in choice.tried:
            self.say("  (%s)" % line)
        self.say(choice.summary())
        for item, why in choice.skipped:
            self.say("  - left out %s: %s" % (item.describe(), why))
        return facts, choice, self.restyle_body(facts, timeline, choice.items)

    def price(self):
        # type: () -> str
        """What restyling the current choice would cost (creates nothing)."""
        _facts, _choice, body = self.prepare()
        return money_text(self.client.restyle(dict(body, dry_run=True)))

    def restyle(self, mode=None, wait=None, pick=None, change=None, extra=None):
        # type: (Optional[str], Optional[float], Any, Optional[Dict[str, Any]], Optional[Dict[str, Any]]) -> Optional[str]
        """Restyle the chosen clips; results as takes (or ``mode="track"``: a track above).

        The chain actions reuse it: ``pick`` narrows the choice, ``change`` replaces fields
        of the request (several looks, another job's look), ``extra`` goes in the ledger.
        """
        mode = mode or self.settings["placement"]
        facts, choice, body = self.prepare(mode, pick)
        if change:
            body.update(change)
            if "looks" in change or "apply_look" in change:
                body.pop("look", None)
        priced = self.client.restyle(dict(body, dry_run=True))
        self.check_price(priced)
        targets = dict((i.uid, {"name": i.name, "track": i.track, "start": i.start,
                                "end": i.end}) for i in choice.items)
        entry = self.ledger.begin(self.key, self.project_name, "/restyle", body, {
            "kind": "restyle", "mode": mode, "timeline": facts.uid,
            "timeline_name": facts.name, "targets": targets,
            "look": (extra or {}).get("look") or self.settings["preset"] or "custom",
            "extra": extra or {}})
        answer = self._send(entry, "/restyle", body)
        for skipped in answer.get("skipped", []):
            self.say("  - the daemon left out %r: %s"
                     % (skipped.get("name"), skipped.get("reason")))
        for note in answer.get("notes", []):
            self.say("  note: %s" % note)
        batch_id = str(answer["batch_id"])
        self.say("Sent %d job%s (batch %s); results come back as %s."
                 % (len(answer["jobs"]), "" if len(answer["jobs"]) == 1 else "s", batch_id,
                    "takes on their clips" if mode == "take" else "clips on a track above"))
        self.collect(self.settings["wait_seconds"] if wait is None else wait)
        return batch_id

    # ------------------------------------------------------------------ B-roll

    def generate(self, wait=None, then=None):
        # type: (Optional[float], Optional[Dict[str, Any]]) -> List[str]
        """B-roll at every ``kling:`` marker, or at the playhead with the settings' prompt;
        ``then``: a look each is restyled in before it is placed (a chain)."""
        timeline = self.host.timeline()
        facts = self.host.facts(timeline)
        wanted = placement.prompts(facts, self.settings["broll_seconds"])
        if wanted:
            count = sum(len(p.shots) or 1 for p in wanted)
            self.say("B-roll: %d kling: marker%s -> %d clip%s" % (
                count, "" if count == 1 else "s", len(wanted), "" if len(wanted) == 1 else "s"))
        elif self.settings["broll_prompt"].strip():
            if facts.playhead is None:
                raise HostError("cannot read the playhead", "park it where the B-roll goes")
            wanted = [placement.Prompt(self.settings["broll_prompt"].strip(), facts.playhead,
                                       self.settings["broll_seconds"], "B-roll")]
            self.say("B-roll: at the playhead (%s)"
                     % frames_to_timecode(facts.playhead, facts.rate, facts.drop))
        else:
            raise HostError("no B-roll prompt found",
                            "add a marker whose note starts with 'kling:' (e.g. 'kling: rain on "
                            'a tin roof\'), or set "broll_prompt" in the settings file')
        bodies = [(prompt, self.broll_body(facts, prompt)) for prompt in wanted]
        if then:
            for _prompt, body in bodies:
                body["then"] = [then]
            self.say("  then restyled in %s; only the restyled clip%s placed"
                     % (then.get("preset") or "your words", " is" if len(bodies) == 1
                        else "s are"))
        return self.send_brolls(facts, bodies, wait)

    def send_brolls(self, facts, bodies, wait=None):
        # type: (TimelineFacts, List[Tuple[placement.Prompt, Dict[str, Any]]], Optional[float]) -> List[str]
        """Price every B-roll, remember each request, send them one by one (a refusal
        leaves the others going), then wait briefly and place what finished."""
        total = {"units": 0.0, "usd": 0.0}
        priced = {}  # type: Dict[str, Any]
        for _prompt, body in bodies:
            priced = self.client.generate(dict(body, dry_run=True))
            for key in total:
                total[key] += float((priced.get("estimate") or {}).get(key, 0))
        self.check_price(dict(priced, estimate=total))
        entries = []  # every request is remembered before the first is sent
        for prompt, body in bodies:
            spot = {"frame": prompt.frame, "name": prompt.name, "prompt": prompt.text,
                    "frames": prompt.span}
            entries.append((prompt, self.ledger.begin(
                self.key, self.project_name, "/generate", body, {
                    "kind": "generate", "mode": "broll", "timeline": facts.uid,
                    "timeline_name": facts.name, "spot": spot, "spots": {}}), body))
        batch_ids = []
        for prompt, entry, body in entries:
            try:
                answer = self._send(entry, "/generate", body)
            except BridgeError as exc:
                if exc.status is None or exc.status >= 500:
                    raise  # no answer: this one and the rest are sent by the next run
                self.say("! %s: the daemon refused it: %s" % (prompt.name, exc))
                continue  # each B-roll is its own request: the others still go
            batch_ids.append(answer["batch_id"])
            shots = " in %d shots" % len(prompt.shots) if prompt.shots else ""
            self.say("  %s at %s: %d s%s (batch %s)" % (
                prompt.name, frames_to_timecode(prompt.frame, facts.rate, facts.drop),
                prompt.seconds, shots, answer["batch_id"]))
        self.collect(self.settings["wait_seconds"] if wait is None else wait)
        return batch_ids

    def broll_body(self, facts, prompt):
        # type: (TimelineFacts, placement.Prompt) -> Dict[str, Any]
        """``POST /v1/generate`` for one B-roll: one prompt, or the shots of a run of
        touching markers; conformed to the timeline's rate and size."""
        body = {
            "prompt": prompt.text, "duration": prompt.seconds,
            "resolution": self.settings["resolution"],
            "aspect_ratio": placement.aspect_ratio(facts.width, facts.height),
            "audio": self.settings["broll_audio"],
            "conform": {"rate": rate_text(facts.rate), "width": facts.width,
                        "height": facts.height},
            "placement": {"record_start": max(0, prompt.frame - facts.start),
                          "track_index": 0, "timeline_rate": rate_text(facts.rate),
                          "name": prompt.name}}  # type: Dict[str, Any]
        if prompt.shots:
            body["prompt"] = ""
            body["shots"] = [{"prompt": text, "duration": seconds}
                             for text, seconds in prompt.shots]
            del body["duration"]  # the shots' sum
        return body

    # ------------------------------------------------------------------ sending

    def _send(self, entry, path, body):
        # type: (Dict[str, Any], str, Dict[str, Any]) -> Dict[str, Any]
        """POST ``body`` with the entry's idempotency key and record the batch it answers.

        The ledger already holds the entry (``Ledger.begin``): when no answer comes back,
        the entry stays and the next run asks again with the same key. A refusal (4xx)
        created nothing, so the entry is dropped.
        """
        keyed = dict(body, idempotency_key=entry["key"])
        try:
            answer = self.client.post(path, keyed)  # type: Dict[str, Any]
        except BridgeError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                self.ledger.drop(self.key, entry["key"], "refused: %s" % exc.message)
                raise
            raise BridgeError(
                exc.code, "no answer to the request (%s). It is remembered: the next run of "
                "any Kling Bridge script asks the daemon again with the same key, so nothing "
                "is made or paid twice" % exc.message,
                "run Kling Bridge - Collect once the daemon answers ('kling-bridge status' "
                "tells)", exc.status) from None
        extra = {}  # type: Dict[str, Any]
        if entry.get("spot") is not None:  # a chain's later links are listed in its chains
            ids = [job["id"] for job in answer["jobs"]] + [
                link["job_id"] for chain in answer.get("chains") or []
                for link in chain.get("links") or []]
            extra["spots"] = dict((job_id, entry["spot"]) for job_id in ids)
            entry["spots"] = extra["spots"]
        entry["batch_id"] = str(answer["batch_id"])
        self.ledger.sent(self.key, entry["key"], entry["batch_id"], **extra)
        return answer

    def _resend(self, entry):
        # type: (Dict[str, Any]) -> bool
        """Ask again for a submission whose answer never came; True once it has a batch."""
        request = self.ledger.request(entry)
        what = "%s sent %s" % (entry.get("kind", "request"),
                              time.strftime("%Y-%m-%d %H:%M", time.localtime(
                                  entry.get("created", time.time()))))
        if request is None:
            self.say("! the %s had no answer and its request file is gone; forgetting it"
                     % what)
            self.ledger.drop(self.key, entry["key"], "request file missing")
            return False
        try:
            answer = self._send(entry, request["path"], request["body"])
        except BridgeError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                self.say("! the %s was refused by the daemon: %s" % (what, exc))
            else:
                self.say("! the %s still has no answer: %s" % (what, exc))
            return False
        again = any("idempotency_key" in n for n in answer.get("notes", []))
        self.say("The %s had lost its answer; asked again with the same key: batch %s (%s)"
                 % (what, entry["batch_id"], "the one it made then" if again else
                    "made now: the first request never reached the daemon"))
        return True

    # ------------------------------------------------------------------ collecting

    def collect(self, wait=0.0):
        # type: (float) -> int
        """Put back every finished result this project waits for; wait up to ``wait`` s.

        Returns how many jobs are still running in the daemon.
        """
        deadline = time.time() + max(0.0, wait)
        running = 0
        while True:
            running = 0
            for entry in self.ledger.open_batches(self.key):
                running += self._collect_batch(entry)
            if running == 0 or time.time() >= deadline:
                break
            time.sleep(self.poll)
        if running:
            self.say("%d job%s still running in the daemon: run any Kling Bridge script "
                     "later (e.g. Kling Bridge - Collect) to bring %s in"
                     % (running, "" if running == 1 else "s", "it" if running == 1 else "them"))
        return running

    def _collect_batch(self, entry):
        # type: (Dict[str, Any]) -> int
        if not entry.get("batch_id"):
            if entry["key"] in self._unanswered:
                return 0
            if not self._resend(entry):
                self._unanswered.add(entry["key"])
                return 0
        batch_id = entry["batch_id"]
        try:
            batch = self.client.batch(batch_id)
        except BridgeError as exc:
            if exc.status == 404:
                self.say("! batch %s is unknown to the daemon (was its data folder reset?); "
                         "forgetting it" % batch_id)
                self.ledger.close(self.key, batch_id, "unknown to the daemon")
                return 0
            raise
        running = 0
        # A comparison's takes go on in its looks' order (take 3 is the second look, as its
        # picture's columns say), whichever render finishes first: a look waits for those
        # before it.
        in_order = bool((entry.get("extra") or {}).get("compare"))
        earlier_running = False
        for job in batch.get("jobs", []):
            job_id = job["id"]
            if job_id in entry["outcomes"]:
                continue
            state = job.get("state")
            if state == "succeeded" and in_order and earlier_running:
                running += 1
                continue
            if state == "succeeded":
                outcome = self._apply(entry, job)
                if outcome is None:
                    continue  # left for a later run (e.g. its timeline is not the open one)
            elif state == "failed":
                error = job.get("error") or {}
                outcome = "failed: %s" % error.get("message", "no reason given")
                self.say("! %s failed: %s%s" % (job.get("label"), error.get("message", ""),
                                                " (" + error["hint"] + ")"
                                                if error.get("hint") else ""))
            elif state == "cancelled":
                outcome = "cancelled"
                self.say("- %s was cancelled" % job.get("label"))
            elif state == "needs_attention":
                if self._progress.get(job_id) != state:
                    self.say("! %s needs a person: %s (see 'kling-bridge jobs')"
                             % (job.get("label"), job.get("note") or "paid, not resolved"))
                    self._progress[job_id] = state
                continue
            else:
                running += 1
                earlier_running = True
                line = "%s: %s %d%%" % (job.get("label"), state,
                                         int(100 * float(job.get("progress") or 0)))
                if self._progress.get(job_id) != line:
                    self.say("  ... " + line)
                    self._progress[job_id] = line
                continue
            self.ledger.record(self.key, batch_id, job_id, outcome)
            entry["outcomes"][job_id] = outcome
        jobs = batch.get("jobs", [])
        if batch.get("state") != "running" and all(j["id"] in entry["outcomes"] for j in jobs):
            if (entry.get("extra") or {}).get("compare"):
                self.compare_picture(entry)
            self.ledger.close(self.key, batch_id)
        return running

    def compare_picture(self, entry):
        # type: (Dict[str, Any]) -> None
        """The comparison picture of a finished "Compare looks" batch: asked of the daemon,
        imported into the bin, its columns said and remembered for "Apply look"."""
        try:
            answer = self.client.compare(entry["batch_id"])
        except BridgeError as exc:
            self.say("! no comparison picture: %s" % exc)
            return
        for note in answer.get("notes", []):
            self.say("  note: %s" % note)
        for picture in answer.get("pictures", []):
            try:
                self.host.import_media(picture["path"], self.settings["bin"])
            except HostError as exc:
                self.say("  ! the picture is at %s (%s)" % (picture["path"], exc))
            self.say("Comparison picture in the %r bin: %s" % (self.settings["bin"],
                                                               picture["path"]))
            for column in picture.get("columns", []):
                self.say("  column %d: %s%s" % (
                    column["index"], column["look"],
                    " (job %s)" % column["job_id"] if column.get("job_id") else ""))
            self.ledger.set_comparison(self.key, {
                "batch": entry["batch_id"], "path": picture["path"],
                "columns": [c for c in picture.get("columns", []) if c.get("job_id")]})
