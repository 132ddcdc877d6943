"""Results spliced into the editor's own OTIO document, as text.

The result of an ``.otio`` is the editor's file with new tracks added after its last track
and nothing else changed: every byte before and after the insertion is the editor's (their
indentation, key order, number spelling, metadata from Resolve or Kdenlive). Only the new
tracks' JSON is written, so a 5,000-clip cut is not parsed into objects and serialized again
to add one track.

Where the tracks go: the end of ``tracks.children`` (the top-level Stack's children). The
document's top level is walked key by key, each value skipped with the standard library's
JSON decoder; when the Stack's and the Timeline's keys come in the order OpenTimelineIO
writes them, ``children`` and ``tracks`` are their last keys and the array ends where the
document's tail says. Any other layout takes the general route: the whole array is decoded
to find where it ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import orjson

from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.placement import ResultClip
from kling_bridge.timeline.results import track_documents

_WS = re.compile(r"[ \t\n\r]*")
_URL = re.compile(r'"target_url"\s*:\s*"((?:[^"\\]|\\.)*)"')
#: The keys OpenTimelineIO writes before ``tracks`` (Timeline.1) and before ``children``
#: (Stack.1); ``color`` arrived in 0.17.
_TIMELINE_HEAD = (["OTIO_SCHEMA", "metadata", "name", "global_start_time"],)
_STACK_HEAD = (["OTIO_SCHEMA", "metadata", "name", "source_range", "effects", "markers",
                "enabled"],
               ["OTIO_SCHEMA", "metadata", "name", "source_range", "effects", "markers",
                "enabled", "color"])


def splice_otio(text: str, results: Iterable[ResultClip], *, name: str = "timeline") -> bytes:
    """The file of ``text`` (an OTIO Timeline document) with the results' tracks added after
    its last track, as UTF-8 bytes (what OTIO writes); everything else in it stays exactly
    as it was.

    Bytes rather than text: the editor's document is usually ASCII and the new tracks are
    not (the provenance note's ``·``), so joining them as text would widen every character
    of a large document to two bytes, only to encode it back to UTF-8 for the file. The
    document is encoded once and its two parts are joined as views of those bytes: each
    extra copy of a 12 MB document (a slice, its encoding) is fresh memory the system must
    hand over page by page, about 5 ms each on ``bench/timeline.py``'s cut.

    The new tracks are serialized by orjson, straight to UTF-8 bytes: the standard
    library's ``json.dumps`` and the encoding of its text took 52-57 ms of CPU for the
    benchmark's 5,000 clips (6 MB of JSON), orjson takes 4.5 ms -- the biggest single
    part of the splice before. The JSON is the same data (compact separators instead of
    ``", "``; floats written as Python writes them); OpenTimelineIO reads either.
    """
    style = _first_url(text)
    tracks = track_documents(results, style)
    if not tracks:
        return text.encode("utf-8")
    at = _children_end(text, name)
    before = at
    while before > 0 and text[before - 1] in " \t\r\n":
        before -= 1
    empty = text[before - 1] == "["
    # where the insertion is in the bytes: the same index when every character is one byte
    data = text.encode("utf-8")
    cut = before if text.isascii() else len(text[:before].encode("utf-8"))
    pieces: list[bytes | memoryview] = [memoryview(data)[:cut]]
    for track in tracks:
        if not empty or len(pieces) > 1:
            pieces.append(b", ")
        pieces.append(orjson.dumps(track))  # UTF-8 bytes already (see above)
    pieces.append(memoryview(data)[cut:])
    return b"".join(pieces)


def _first_url(text: str) -> str:
    """The editor's first media URL (bare path or ``file:`` URL), as the document spells it."""
    found = _URL.search(text)
    if found is None:
        return "file:"
    try:
        url: str = json.loads('"' + found.group(1) + '"')
    except ValueError:
        return "file:"
    return url or "file:"


def _children_end(text: str, name: str) -> int:
    """Index of the ``]`` closing the top-level Stack's children."""
    decoder = json.JSONDecoder()
    try:
        keys, at = _walk_to(text, 0, "tracks", decoder)
        if keys is None or text[at] != "{":
            raise ValueError("no tracks")
        timeline_keys = keys
        keys, at = _walk_to(text, at, "children", decoder)
        if keys is None or text[at] != "[":
            raise ValueError("no children")
        if timeline_keys in _TIMELINE_HEAD and keys in _STACK_HEAD:
            closing = _closing_tail(text)
            if closing > at:
                return closing
        _value, end = decoder.raw_decode(text, at)
        return end - 1
    except (ValueError, IndexError) as exc:
        raise TimelineError("the OTIO document has no tracks to add to", path=name,
                            hint="export the timeline (not a bin or a clip) again") from exc


def _closing_tail(text: str) -> int:
    """Index of the ``]`` in a document ending ``]}}`` (whitespace between), else -1."""
    at = len(text)
    for wanted in "}}]":
        at -= 1
        while at >= 0 and text[at] in " \t\r\n":
            at -= 1
        if at < 0 or text[at] != wanted:
            return -1
    return at


def _walk_to(text: str, at: int, wanted: str,
             decoder: json.JSONDecoder) -> tuple[list[str] | None, int]:
    """Step through the object starting at ``at`` to the value of key ``wanted``: the keys
    before it and the value's index (None when the object has no such key)."""
    at = _WS.match(text, at).end()  # type: ignore[union-attr]
    if text[at] != "{":
        raise ValueError("not an object")
    at += 1
    keys: list[str] = []
    while True:
        at = _WS.match(text, at).end()  # type: ignore[union-attr]
        if text[at] == "}":
            return None, at
        if text[at] != '"':
            raise ValueError("bad key")
        key, at = decoder.raw_decode(text, at)  # a key is a JSON string value
        at = _WS.match(text, at).end()  # type: ignore[union-attr]
        if text[at] != ":":
            raise ValueError("no colon")
        at = _WS.match(text, at + 1).end()  # type: ignore[union-attr]
        if key == wanted:
            return keys, at
        keys.append(key)
        _value, at = decoder.raw_decode(text, at)
        at = _WS.match(text, at).end()  # type: ignore[union-attr]
        if text[at] == ",":
            at += 1
