"""Errors and per-clip issues of the timeline layer.

An editor who drops a timeline on the bridge needs to know *which* file and *which* clip is
wrong and what to do about it, so every refusal carries those three parts. Problems that
concern one clip (missing media, a retimed clip) are not errors: they are :class:`ClipIssue`
values collected next to the result, so the rest of the timeline still goes through.
"""

from __future__ import annotations

from dataclasses import dataclass


class TimelineError(ValueError):
    """A timeline could not be read, selected from or written.

    ``str(error)`` reads ``"<file>: <item>: <problem>. <hint>"`` with the parts that are known.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | None = None,
        item: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = path
        self.item = item
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        parts: list[str] = []
        if self.path:
            parts.append(str(self.path))
        if self.item:
            parts.append(f"item {self.item!r}")
        parts.append(self.problem.rstrip("."))
        text = ": ".join(parts) + "."
        if self.hint:
            text += " " + self.hint.rstrip(".") + "."
        return text

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready form for the API's error bodies."""
        return {
            "message": str(self),
            "problem": self.problem,
            "file": self.path,
            "item": self.item,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class ClipIssue:
    """Something wrong with one item that does not stop the rest of the timeline."""

    item: str  # the item's name as the editor sees it (or "<unnamed>")
    reason: str  # what is wrong and what to do
    track: str = ""
    clip_id: str = ""

    def __str__(self) -> str:
        where = f" on {self.track}" if self.track else ""
        return f"{self.item!r}{where}: {self.reason}"
