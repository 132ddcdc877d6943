"""Where a new clip came from, in words an editor reads and in fields a tool reads.

Every clip the bridge adds says what made it twice over:

- a **note**, one short line for the clip's comment or description column --
  ``Kling O3 · film-noir · draft · job j1a2b3c4…`` -- written for a person;
- a **record**, the full facts as flat ``name: value`` pairs (job and task ids, provider,
  model, preset, prompt, cost, the source clip), kept as metadata by the formats that have
  metadata (OTIO) and as one ``name: value; name: value`` line by those that only keep text
  (FCP 7 XML log notes, EDL comments). Never a JSON blob: an editor opening the file in a
  text editor or a bin column reads it as it is, and :func:`parse_record` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

#: The order fields are written in (the rest follow, sorted).
FIELDS = ("job_id", "kind", "provider", "model", "look", "preset", "variant", "draft", "cost",
          "task_id", "source_clip_id", "placement", "prompt")
_NUMBERS = ("variant",)
_FLOATS = ("cost",)


def model_label(provider: str, model: str, kind: str) -> str:
    """``Kling O3`` for a restyle, ``Kling 3.0`` for B-roll, the provider's own words else."""
    if provider in ("kling", "draft") or model.startswith("kling"):
        return "Kling O3" if kind == "restyle" else "Kling 3.0"
    return " ".join(p for p in (provider.title(), model) if p) or "kling-bridge"


def note(record: Mapping[str, Any]) -> str:
    """One line for a person: model · look · draft · short job id."""
    return note_of(str(record.get("job_id") or ""), str(record.get("kind") or "restyle"),
                   str(record.get("provider") or ""), str(record.get("model") or ""),
                   str(record.get("look") or record.get("preset") or ""),
                   int(record.get("variant") or 0), bool(record.get("draft")))


def note_of(job: str, kind: str, provider: str, model: str, look: str, variant: int,
            draft: bool) -> str:
    """:func:`note` from the fields themselves."""
    head = _note_head(kind, provider, model, look, variant, draft)
    if not job:
        return head
    return f"{head} · job {job[:8]}…" if len(job) > 9 else f"{head} · job {job}"


@lru_cache(maxsize=256)  # thousands of clips share a handful of looks
def _note_head(kind: str, provider: str, model: str, look: str, variant: int,
               draft: bool) -> str:
    parts = [model_label(provider, model, kind)]
    if kind == "restyle":
        label = look or "custom"
        parts.append(label if variant == 0 else f"{label} v{variant + 1}")
    else:
        parts.append("B-roll")
    if draft:
        parts.append("draft")
    return " · ".join(parts)


def record_line(record: Mapping[str, Any]) -> str:
    """The record as ``name: value; name: value`` (``;`` and newlines in values escaped)."""
    keys = [k for k in FIELDS if k in record] + sorted(k for k in record if k not in FIELDS)
    pairs = []
    for key in keys:
        value = record[key]
        if value is None or value == "":
            continue
        text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        text = text.replace("\\", "\\\\").replace(";", "\\;").replace("\n", " ")
        pairs.append(f"{key}: {text}")
    return "; ".join(pairs)


def parse_record(line: str) -> dict[str, Any]:
    """:func:`record_line` read back (unknown lines give ``{}``; values keep their type
    where the field has one: ``draft`` a bool, ``variant`` an int, ``cost`` a float)."""
    pairs: list[str] = []
    current: list[str] = []
    escaped = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            pairs.append("".join(current))
            current = []
        else:
            current.append(char)
    pairs.append("".join(current))
    record: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.strip().partition(": ")
        if not sep or not key.replace("_", "").isalnum():
            continue
        record[key] = _typed(key, value.strip())
    return record if "job_id" in record else {}


def _typed(key: str, value: str) -> Any:
    if key == "draft":
        return value == "yes"
    if key in _NUMBERS and value.lstrip("-").isdigit():
        return int(value)
    if key in _FLOATS:
        try:
            return float(value)
        except ValueError:
            return value
    return value
