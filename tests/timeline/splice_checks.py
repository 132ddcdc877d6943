"""What every splice test asks of a result: the editor's document whole, the additions only
where they belong, and golden files that fail when missing.

``KLING_BRIDGE_UPDATE_GOLDENS=1`` writes (or rewrites) the golden files; without it a missing
golden file fails the test -- review the diff of a new golden like code.
"""

from __future__ import annotations

import difflib
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kling_bridge.specs import ClipRef
from kling_bridge.timeline.placement import ResultClip
from kling_bridge.timeline.selection import Selection
from tests.timeline.conftest import GOLDEN

SPLICE_GOLDEN = GOLDEN / "splice"


@dataclass(frozen=True)
class Inserted:
    """A block of lines the result has and the original has not, before original line
    ``before`` (0-based)."""

    before: int
    text: str


def insertions(original: str, result: str) -> list[Inserted]:
    """The result as the original with whole lines inserted, and nothing else: any line
    of the original changed, moved or removed fails."""
    old = original.splitlines(keepends=True)
    new = result.splitlines(keepends=True)
    blocks = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        assert tag in ("equal", "insert"), (
            f"original lines {i1 + 1}-{i2} were changed ({tag}):\n{''.join(old[i1:i2])[:600]}")
        if tag == "insert":
            block, before = new[j1:j2], i1
            # the same insertion, written as late as it can be (a diff may place a block
            # ending like the lines after it a few lines early)
            while before < len(old) and block[0] == old[before]:
                block, before = [*block[1:], old[before]], before + 1
            blocks.append(Inserted(before, "".join(block)))
    return blocks


def check_golden(name: str, text: str) -> None:
    path = SPLICE_GOLDEN / name
    if os.environ.get("KLING_BRIDGE_UPDATE_GOLDENS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), (f"golden file {path.relative_to(GOLDEN.parent)} is missing: run "
                           "with KLING_BRIDGE_UPDATE_GOLDENS=1 and review it")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs from the golden"


def golden_text(blocks: Sequence[Inserted], original: str) -> str:
    """The inserted blocks, each headed by the original line it goes before."""
    lines = original.splitlines()
    parts = []
    for block in blocks:
        anchor = lines[block.before].strip() if block.before < len(lines) else "<end>"
        parts.append(f"@@ before line {block.before + 1}: {anchor}\n{block.text}")
    return "".join(parts)


def results_with_timecodes(selection: Selection, timecode_of: dict[str, str],
                           out: str = "/Volumes/Out") -> list[ResultClip]:
    """What finished jobs give: a restyle per clip at its source's rate, keeping its
    source's timecode (``timecode_of[clip_id]``); 5 s of 24 fps B-roll with sound."""
    made = []
    for n, (ref, src) in enumerate(selection.restyles):
        made.append(ResultClip(
            job_id=f"j{n:02d}ab{n:02d}cdef{n:02d}", kind="restyle",
            path=f"{out}/{Path(src.path).stem} film-noir #{n}.mov", clip=ref, look="film-noir",
            frames=src.frame_count, rate=src.rate, has_audio=True, provider="kling",
            model="kling-3.0-omni", preset="film-noir", task_id=f"task-{n}", cost=2.5,
            timecode=timecode_of.get(ref.clip_id), width=1920, height=1080))
    for n, spec in enumerate(selection.generations):
        placement: ClipRef | None = spec.placement
        assert placement is not None
        made.append(ResultClip(
            job_id=f"g{n:02d}ab{n:02d}cdef{n:02d}", kind="generate",
            path=f"{out}/B-roll {n}.mp4", clip=placement, frames=spec.duration * 24,
            rate="24", has_audio=True, provider="kling", model="kling-3.0",
            prompt=spec.prompt, task_id=f"task-g{n}", cost=1.0, draft=True))
    return made


def all_ids(root: ET.Element) -> list[str]:
    return [e.attrib["id"] for e in root.iter() if "id" in e.attrib]


def defined_once(root: ET.Element) -> bool:
    """Every id is defined by one element; the others using it are empty references
    (``<file id="file-1"/>``, as FCP 7 XML refers to a file already described)."""
    defined: dict[str, int] = {}
    for element in root.iter():
        if "id" in element.attrib and (len(element) or element.tag != "file"):
            defined[element.attrib["id"]] = defined.get(element.attrib["id"], 0) + 1
    return all(count == 1 for count in defined.values())


def sequence_of(root: ET.Element) -> ET.Element:
    """The sequence OpenTimelineIO's reader takes: top level first, else a project's."""
    found = root.find("./sequence")
    if found is None:
        found = root.find(".//children/sequence")
    assert found is not None
    return found


def text_of(element: ET.Element | None, path: str) -> str:
    assert element is not None
    found = element.find(path)
    assert found is not None and found.text is not None, path
    return found.text
