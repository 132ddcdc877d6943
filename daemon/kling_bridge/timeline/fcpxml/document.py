"""An FCPXML document as its bytes plus a light element tree that knows where each element
sits in those bytes, and FCPXML's rational time, exactly.

Why not ElementTree: the result writer (:mod:`.splice`) gives the editor's own file back with
every original byte where it was and new elements inserted between them, so it needs the
byte offset of each start tag, end tag and child -- which expat reports and ElementTree
throws away. The reader uses the same tree, so the element a result is spliced into is, by
construction, the element the selection read.

Time: FCPXML writes every time as rational seconds (``1001/30000s``, ``3600s``, ``0/1s``,
Resolve's ``86400/24s``); they stay :class:`~fractions.Fraction` from parse to splice.
"""

from __future__ import annotations

import contextlib
import gc
import re
import weakref
import xml.parsers.expat
from collections.abc import Iterator
from fractions import Fraction
from functools import lru_cache

from kling_bridge.timeline.errors import TimelineError


class Node:
    """One element: its tag, attributes and children, and where it is in the document bytes.

    ``start`` is the offset of its ``<``; ``end`` the offset just past its last byte;
    ``close`` the offset of its ``</tag>`` (-1 when it was written self-closing ``<tag/>``).
    ``index`` counts elements in document order from 0 (the root): a stable name for an
    element as long as the document is the same. An element knows its parent through a
    weak reference, so a tree nobody holds any more is freed at once, not left to the cyclic
    garbage collector (which took a tenth of a second to find a 5,000-clip project's).
    """

    __slots__ = ("__weakref__", "_parent", "attrs", "children", "close", "end", "index",
                 "start", "tag", "text")

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None, index: int,
                 start: int) -> None:
        self.tag = tag
        self.attrs = attrs
        self._parent = weakref.ref(parent) if parent is not None else None
        self.index = index
        self.start = start
        self.children: list[Node] = []
        self.end = -1
        self.close = -1
        self.text = ""

    @property
    def parent(self) -> Node | None:
        return self._parent() if self._parent is not None else None

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def first(self, tag: str) -> Node | None:
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def all(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def iter(self) -> Iterator[Node]:
        """This element and every descendant, in document order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    @property
    def self_closing(self) -> bool:
        return self.close < 0

    def path(self) -> str:
        """``library/event/project/sequence/spine/asset-clip[3]`` (1-based among siblings of
        the same tag), for error messages a person can follow in the file."""
        parts: list[str] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            same = [c for c in node.parent.children if c.tag == node.tag]
            parts.append(node.tag if len(same) == 1 else f"{node.tag}[{same.index(node) + 1}]")
            node = node.parent
        return "/".join(reversed(parts))

    def __repr__(self) -> str:
        return f"<Node {self.tag} #{self.index} name={self.attrs.get('name')!r}>"


class Document:
    """A parsed FCPXML document: ``data`` (its UTF-8 bytes), ``root``, every element by
    index, and the resources by id."""

    def __init__(self, data: bytes, root: Node, nodes: list[Node]) -> None:
        self.data = data
        self.root = root
        self.nodes = nodes
        self.ids: dict[str, Node] = {}
        for node in nodes:
            node_id = node.attrs.get("id")
            if node_id is not None:
                self.ids.setdefault(node_id, node)

    @property
    def version(self) -> tuple[int, int]:
        """``version="1.11"`` -> (1, 11); an unreadable version counts as the oldest (1, 0)."""
        return version_tuple(self.root.get("version", ""))

    def resource(self, ref: str | None) -> Node | None:
        return self.ids.get(ref) if ref else None


def version_tuple(text: str | None) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else (1, 0)


def parse(text: str | bytes, *, name: str | None = None) -> Document:
    """Parse FCPXML text; raises :class:`TimelineError` saying what and where when it is not
    well-formed XML or not FCPXML at all."""
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    if not data.strip():
        raise TimelineError("the file is empty", path=name, hint="export the project again")
    parser = xml.parsers.expat.ParserCreate("UTF-8")
    parser.buffer_text = True
    nodes: list[Node] = []
    stack: list[Node] = []
    texts: set[int] = set()  # elements holding character data (never self-closing)

    def start(tag: str, attrs: dict[str, str]) -> None:
        parent = stack[-1] if stack else None
        node = Node(tag, attrs, parent, len(nodes), parser.CurrentByteIndex)
        nodes.append(node)
        if parent is not None:
            parent.children.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        node = stack.pop()
        at = parser.CurrentByteIndex
        # expat reports a self-closing element's end just past its "/>", and a closing tag
        # at its "<"; an element with content or text cannot have been self-closing
        if not node.children and node.index not in texts and data[at - 2:at] == b"/>":
            node.end = at
        else:
            node.close = at
            node.end = data.index(b">", at) + 1

    def chars(value: str) -> None:
        if stack and value.strip():
            node = stack[-1]
            node.text += value
            texts.add(node.index)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise TimelineError(
            f"not well-formed XML (line {exc.lineno}, column {exc.offset + 1}: "
            f"{xml.parsers.expat.ErrorString(exc.code)})",
            path=name, hint="export the project again; the file may be truncated or hand-edited",
        ) from exc
    root = nodes[0]
    if root.tag != "fcpxml":
        raise TimelineError(f"not an FCPXML document (its root element is <{root.tag}>)",
                            path=name, hint="export XML from Final Cut Pro or DaVinci Resolve")
    return Document(data, root, nodes)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Building a large document's tree and timeline allocates hundreds of thousands of
    small objects that all live on: the cyclic collector would rescan them again and again
    (half the read time of a 5,000-clip project) and finds nothing to free."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --------------------------------------------------------------------------- time


@lru_cache(maxsize=65536)
def parse_time(value: str) -> Fraction:
    """``"1001/30000s"``, ``"3600s"``, ``"0/1s"``, ``"2.5s"`` -> seconds, exactly.

    Raises ValueError for anything else (callers name the element)."""
    text = value.strip()
    if text.endswith("s"):
        text = text[:-1]
    if not text:
        raise ValueError(f"not an FCPXML time: {value!r}")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not an FCPXML time: {value!r}") from None


def time_attr(node: Node, name: str, default: Fraction | None = None) -> Fraction:
    """An element's time attribute, or ``default`` (0 when not given) when it is absent; a
    value that is not a time is a :class:`TimelineError` naming the element."""
    value = node.attrs.get(name)
    if value is None:
        return Fraction(0) if default is None else default
    try:
        return parse_time(value)
    except ValueError:
        raise TimelineError(f"{name}={value!r} is not an FCPXML time", item=describe(node),
                            hint="export the project again") from None


def format_time(seconds: Fraction) -> str:
    """Seconds -> FCPXML time: ``"1001/30000s"``, ``"6s"``, ``"0s"``."""
    if seconds.denominator == 1:
        return f"{seconds.numerator}s"
    return f"{seconds.numerator}/{seconds.denominator}s"


def frame_rate(format_node: Node | None) -> Fraction | None:
    """A ``<format>``'s exact frame rate from its ``frameDuration`` (``1001/24000s`` ->
    24000/1001, ``100/3000s`` -> 30); None when it has none (stills, audio)."""
    if format_node is None:
        return None
    value = format_node.attrs.get("frameDuration")
    return _rate_of(value) if value else None


@lru_cache(maxsize=256)  # asked for every clip; a project has a handful of formats
def _rate_of(frame_duration: str) -> Fraction | None:
    try:
        duration = parse_time(frame_duration)
    except ValueError:
        return None
    return 1 / duration if duration > 0 else None


_SRC_FRAME_RATES = {
    "23.98": Fraction(24000, 1001), "29.97": Fraction(30000, 1001),
    "47.95": Fraction(48000, 1001), "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}


def named_rate(text: str) -> Fraction:
    """A ``conform-rate@srcFrameRate`` value (``"23.98"``, ``"25"``) as an exact rate."""
    text = text.strip()
    if text in _SRC_FRAME_RATES:
        return _SRC_FRAME_RATES[text]
    return Fraction(text)


def describe(node: Node) -> str:
    """How an element is named in messages: its name, else its tag and place."""
    name = node.attrs.get("name")
    return f"{name} ({node.tag})" if name else node.path()
