"""An independent look at FCPXML text for the tests: its own tokenizer, element tree, time
arithmetic and original-vs-result alignment -- none of it from the package under test (no
expat, no :mod:`kling_bridge.timeline.fcpxml`), so a mistake there cannot hide itself.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from fractions import Fraction

_TOKEN = re.compile(
    r"<!--.*?-->|<\?.*?\?>|<!DOCTYPE[^>]*>|<!\[CDATA\[.*?\]\]>"
    r"|<(?:\"[^\"]*\"|'[^']*'|[^'\">])*>|[^<]+", re.S)
_NAME = re.compile(r"</?([^\s/>]+)")
_ATTR = re.compile(r"([A-Za-z_][\w:.\-]*)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


@dataclass
class Token:
    kind: str  # start | end | empty | text | other
    text: str
    start: int
    end: int

    @property
    def name(self) -> str:
        match = _NAME.match(self.text)
        return match.group(1) if match else ""


def tokens(text: str) -> list[Token]:
    """Tags and non-blank text, with their character offsets (blank text is layout)."""
    found = []
    for match in _TOKEN.finditer(text):
        value = match.group(0)
        if not value.startswith("<"):
            if value.strip():
                found.append(Token("text", value, match.start(), match.end()))
            continue
        if value.startswith(("<!", "<?")):
            kind = "other"
        elif value.startswith("</"):
            kind = "end"
        elif value.endswith("/>"):
            kind = "empty"
        else:
            kind = "start"
        found.append(Token(kind, value, match.start(), match.end()))
    return found


@dataclass
class El:
    tag: str
    attrs: dict[str, str]
    parent: El | None
    index: int  # document order, from 0 at the root
    start: int
    end: int = -1
    children: list[El] = field(default_factory=list)
    text: str = ""

    def get(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default)

    def iter(self) -> list[El]:
        found = [self]
        for child in self.children:
            found.extend(child.iter())
        return found

    def first(self, tag: str) -> El | None:
        return next((c for c in self.children if c.tag == tag), None)


def tree(text: str) -> El:
    """The element tree of ``text`` (attributes unescaped), elements numbered in order."""
    root: El | None = None
    stack: list[El] = []
    count = 0
    for token in tokens(text):
        if token.kind in ("start", "empty"):
            attrs = {m.group(1): html.unescape(m.group(2) if m.group(2) is not None
                                               else m.group(3))
                     for m in _ATTR.finditer(token.text)}
            element = El(token.name, attrs, stack[-1] if stack else None, count, token.start)
            count += 1
            if stack:
                stack[-1].children.append(element)
            else:
                root = element
            if token.kind == "empty":
                element.end = token.end
            else:
                stack.append(element)
        elif token.kind == "end":
            stack.pop().end = token.end
        elif token.kind == "text" and stack:
            stack[-1].text += html.unescape(token.text)
    assert root is not None and not stack
    return root


# --------------------------------------------------------------------------- time


def seconds(value: str) -> Fraction:
    return Fraction(value.strip().rstrip("s") or "0")


def time_of(element: El, name: str) -> Fraction:
    return seconds(element.get(name, "0s"))


def record(element: El, sequence: El) -> Fraction:
    """Where ``element`` plays, in seconds from the sequence's tcStart, from the XML alone:
    primary storyline elements by their offset; anchored elements and connected
    storylines by their parent's place plus their offset minus the parent's start; an
    audition's picks where the audition is."""
    parent = element.parent
    assert parent is not None
    top = parent.parent is not None and parent.parent.index == sequence.index
    if parent.tag == "spine" and top:
        return time_of(element, "offset") - time_of(sequence, "tcStart")
    if parent.tag == "spine":  # inside a connected storyline: its local time starts at 0
        return record(parent, sequence) + time_of(element, "offset")
    if parent.tag == "audition":
        return record(parent, sequence)
    return record(parent, sequence) + time_of(element, "offset") - time_of(parent, "start")


# --------------------------------------------------------------------------- alignment


@dataclass
class Inserted:
    parent: El  # the original element it was put into (in the original's tree)
    start: int  # character offsets in the result
    end: int
    text: str


@dataclass
class Alignment:
    inserted: list[Inserted]
    expanded: list[tuple[int, int, int]]  # (start-tag '>' offset, close tag end, orig index)
    stripped: str  # the result without what was inserted, self-closing tags as they were


def align(original: str, result: str) -> Alignment:
    """Match ``original``'s tags and text, in order, inside ``result``: whatever else the
    result holds must be whole elements inserted between them (or inside an element that
    was self-closing). Raises AssertionError naming the first original token that is not
    in the result unchanged."""
    orig_tokens = tokens(original)
    res_tokens = tokens(result)
    orig_tree = tree(original)
    by_offset = {e.start: e for e in orig_tree.iter()}
    inserted: list[Inserted] = []
    expanded: list[tuple[int, int, int]] = []
    stack: list[El] = []
    j = 0

    def take_inserted(parent: El) -> None:
        nonlocal j
        first = res_tokens[j]
        assert first.kind in ("start", "empty"), f"unexpected {first.text!r} in the result"
        depth = 0
        while True:
            token = res_tokens[j]
            if token.kind == "start":
                depth += 1
            elif token.kind == "end":
                depth -= 1
            j += 1
            if depth == 0:
                break
        last = res_tokens[j - 1]
        inserted.append(Inserted(parent, first.start, last.end, result[first.start:last.end]))

    for token in orig_tokens:
        while j < len(res_tokens) and res_tokens[j].text != token.text and not (
                token.kind == "empty" and res_tokens[j].text == token.text[:-2] + ">"):
            assert stack, f"{res_tokens[j].text!r} inserted outside the root"
            take_inserted(stack[-1])
        assert j < len(res_tokens), f"original {token.text[:80]!r} missing from the result"
        match = res_tokens[j]
        if match.text == token.text:
            j += 1
            if token.kind == "start":
                stack.append(by_offset[token.start])
            elif token.kind == "end":
                stack.pop()
            continue
        element = by_offset[token.start]  # a self-closing element that received children
        j += 1
        while res_tokens[j].kind != "end" or res_tokens[j].name != element.tag:
            take_inserted(element)
        expanded.append((match.end - 1, res_tokens[j].end, element.index))
        j += 1
    assert j == len(res_tokens), f"{res_tokens[j].text!r} after the document's end"
    return Alignment(inserted, expanded, _strip(result, inserted, expanded))


def _strip(result: str, inserted: list[Inserted], expanded: list[tuple[int, int, int]]) -> str:
    """``result`` without the inserted elements (each with the line it stands on when it
    stands alone on it) and with the elements that received children written
    self-closing again: the original, if nothing else changed."""
    edits: list[tuple[int, int, str]] = [(gt, end, "/>") for gt, end, _index in expanded]
    for item in inserted:
        if any(gt < item.start < end for gt, end, _index in expanded):
            continue  # goes with its element's "/>"
        start, end = item.start, item.end
        line_start = result.rfind("\n", 0, start) + 1
        line_end = result.find("\n", end)
        if (line_start > 0 and not result[line_start:start].strip() and line_end >= 0
                and not result[end:line_end].strip()):
            start, end = line_start, line_end + 1
        edits.append((start, end, ""))
    text = result
    for start, end, value in sorted(edits, reverse=True):
        text = text[:start] + value + text[end:]
    return text
