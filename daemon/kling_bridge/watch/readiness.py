"""When a dropped item is complete: its size and modification time have not changed for the
stability window (a copy, a render or a download still writing keeps changing them).

Pure: the edge measures :class:`Signature`\\ s and asks :class:`Stability` which items are
due; it then checks that the item opens (Windows keeps a file being copied locked) before
taking it. Events only say "look again soon" -- nothing here depends on receiving them, so
a periodic rescan finds what an observer dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    """What changes while an item is written: sizes, newest mtime, and (bundles) file count."""

    size: int
    mtime_ns: int
    files: int = 1


@dataclass
class _Seen:
    signature: Signature | None
    since: float  # when the signature last changed (or was first seen)


class Stability:
    """Tracks candidate items by key (their path) until each has held still long enough."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: dict[str, _Seen] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, key: str) -> bool:
        return key in self._seen

    def keys(self) -> list[str]:
        return list(self._seen)

    def observe(self, key: str, signature: Signature | None, now: float) -> None:
        """Record a measurement; a changed (or first) signature restarts the item's clock.

        ``None`` means the item could not be measured (gone, or half-there): it is kept and
        its clock restarts, so it is only taken after it has been measurable for a window.
        """
        seen = self._seen.get(key)
        if seen is None or seen.signature != signature or signature is None:
            self._seen[key] = _Seen(signature, now)

    def touch(self, key: str, now: float) -> None:
        """An event said the item changed: measure again, and wait at least a full window."""
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = _Seen(None, now)
        else:
            seen.since = now

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)

    def forget_all(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._seen.pop(key, None)

    def due(self, now: float) -> list[str]:
        """Items whose signature has held for the whole window (oldest first)."""
        ready = [(s.since, k) for k, s in self._seen.items()
                 if s.signature is not None and now - s.since >= self.window]
        return [k for _, k in sorted(ready)]

    def next_due(self, now: float) -> float | None:
        """Seconds until the earliest measurable item could be due (None: nothing tracked)."""
        pending = [s.since + self.window - now for s in self._seen.values()]
        return max(0.0, min(pending)) if pending else None


def combine(parts: Iterable[Signature]) -> Signature:
    """One signature for a bundle or an image with its prompt: sums and the newest mtime."""
    size = mtime = files = 0
    for p in parts:
        size += p.size
        mtime = max(mtime, p.mtime_ns)
        files += p.files
    return Signature(size, mtime, files)
