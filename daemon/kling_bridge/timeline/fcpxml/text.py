"""New elements written into a document's own bytes, in the document's own style.

Insertions are collected as (offset, replaced bytes, text) and applied in one pass, so every
byte between them is the original's. New elements are built as lines whose leading tabs say
their depth; :class:`Style` writes them with the document's line ends and indentation unit
(or all on one line when the document is), so an inserted element looks like its
neighbours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kling_bridge.timeline.fcpxml.document import Document, Node


@dataclass
class Edits:
    """Text to insert at byte offsets (replacing ``replace`` bytes there), applied at once."""

    inserts: list[tuple[int, int, str]] = field(default_factory=list)  # (at, replace, text)

    def add(self, at: int, text: str, replace: int = 0) -> None:
        self.inserts.append((at, replace, text))

    def apply(self, data: bytes) -> bytes:
        pieces = []
        last = 0
        for at, replace, text in sorted(self.inserts, key=lambda e: e[0]):
            pieces.append(data[last:at])
            pieces.append(text.encode("utf-8"))
            last = at + replace
        pieces.append(data[last:])
        return b"".join(pieces)


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                          "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


_SPECIAL = re.compile(r'[&<>"\n\r\t]')


def escape(value: str) -> str:
    return value.translate(_ESCAPES) if _SPECIAL.search(value) else value


def element(tag: str, attrs: list[tuple[str, str]], children: list[Any]) -> list[str]:
    """An element as lines, children one tab deeper (:class:`_Style` writes the tabs the
    document's way)."""
    head = f"<{tag}" + "".join([f' {k}="{escape(v)}"' for k, v in attrs])
    if not children:
        return [head + "/>"]
    lines = [head + ">"]
    for child in children:
        if isinstance(child, str):
            lines.append("\t" + child)
        else:
            lines.extend(["\t" + line for line in child])
    lines.append(f"</{tag}>")
    return lines


class Style:
    """Writes new elements the way the document is written: its line breaks and its
    indentation unit, or nothing between elements when it is all on one line."""

    def __init__(self, doc: Document) -> None:
        self.data = doc.data
        self.newline = b"\r\n" if b"\r\n" in doc.data[:4096] else b"\n"
        first = doc.root.children[0] if doc.root.children else None
        self.pretty = first is not None and self._indent(first) is not None
        unit = self._indent(first) if first is not None else None
        self.unit = unit if unit else "    "

    def _indent(self, node: Node) -> str | None:
        """The whitespace before ``node`` on its line, None when something else is there."""
        line_start = self.data.rfind(b"\n", 0, node.start) + 1
        before = self.data[line_start:node.start]
        if line_start == 0 or before.strip():
            return None
        return before.decode("ascii", "replace")

    def _close_indent(self, node: Node) -> str | None:
        line_start = self.data.rfind(b"\n", 0, node.close) + 1
        before = self.data[line_start:node.close]
        if line_start == 0 or before.strip():
            return None
        return before.decode("ascii", "replace")

    def _lines(self, blocks: list[list[str]], indent: str) -> list[str]:
        return [indent + _retab(line, self.unit) for block in blocks for line in block]

    def _at_line(self, edits: Edits, at: int, existing: str, indent: str,
                 blocks: list[list[str]]) -> None:
        """Insert ``blocks`` (indented ``indent``) at ``at``, the start of a line's content
        after its indentation ``existing``: what was there follows on its own line."""
        nl = self.newline.decode()
        text = nl.join(self._lines(blocks, indent))
        edits.add(at, text[len(existing):] + nl + existing)

    def insert_children(self, edits: Edits, parent: Node, before: Node | None,
                        blocks: list[list[str]]) -> None:
        """``blocks`` as children of ``parent``, before its child ``before`` (else last)."""
        if before is not None:
            indent = self._indent(before) if self.pretty else None
            if indent is None:
                edits.add(before.start, _compact(blocks))
            else:
                self._at_line(edits, before.start, indent, indent, blocks)
            return
        if parent.self_closing:  # <x .../> becomes <x ...>...</x>; its start tag stays
            parent_indent = self._indent(parent) if self.pretty else None
            if parent_indent is None:
                edits.add(parent.end - 2, f">{_compact(blocks)}</{parent.tag}>", replace=2)
                return
            nl = self.newline.decode()
            text = nl.join(self._lines(blocks, parent_indent + self.unit))
            edits.add(parent.end - 2, f">{nl}{text}{nl}{parent_indent}</{parent.tag}>",
                      replace=2)
            return
        close_indent = self._close_indent(parent) if self.pretty else None
        if close_indent is None:
            edits.add(parent.close, _compact(blocks))
        else:
            self._at_line(edits, parent.close, close_indent, close_indent + self.unit, blocks)

    def insert_first(self, edits: Edits, parent: Node, block: list[str]) -> None:
        """``block`` as ``parent``'s first child (a ``<resources>`` the document lacks)."""
        at = _start_tag_end(self.data, parent)
        if not self.pretty:
            edits.add(at, "".join(_retab(line, "") for line in block))
            return
        nl = self.newline.decode()
        edits.add(at, "".join(nl + self.unit + _retab(line, self.unit) for line in block))


def _compact(blocks: list[list[str]]) -> str:
    """``blocks`` on one line, for a document written without line breaks."""
    return "".join(_retab(line, "") for block in blocks for line in block)


def _retab(line: str, unit: str) -> str:
    """Leading tabs of a built line (its depth) -> the document's indentation unit."""
    if line[:1] != "\t":
        return line
    body = line.lstrip("\t")
    return unit * (len(line) - len(body)) + body


def _start_tag_end(data: bytes, node: Node) -> int:
    """The offset just past ``node``'s start tag (quoted attribute values may hold ``>``)."""
    at = node.start
    quote = 0
    while True:
        byte = data[at]
        if quote:
            if byte == quote:
                quote = 0
        elif byte in (0x22, 0x27):
            quote = byte
        elif byte == 0x3E:
            return at + 1
        at += 1
