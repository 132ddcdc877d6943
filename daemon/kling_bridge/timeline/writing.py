"""Writing timelines in every editor's format (the output edge of the timeline layer).

Always through :mod:`.writeback` (the adapters' known failures worked around on a copy),
always to a temporary name in the destination folder renamed into place, and an existing
file or folder is only replaced when the caller says so: a source timeline is never touched.
Adapter modules are called directly, so other OTIO plugins' hooks do not run on our writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import opentimelineio as otio
from opentimelineio.adapters import file_bundle_utils, otiod, otioz

from kling_bridge.atomic import atomic_output
from kling_bridge.timeline import writeback
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.formats import (
    _SUFFIXES,
    FORMATS,
    _adapter,
    canonical_format,
    suffix_for,
)


def timeline_to_string(
    timeline: otio.schema.Timeline, fmt: str, *, video_track: int | str | None = None
) -> str:
    """The timeline as text in ``fmt`` (otio_json, fcp_xml, fcpx_xml, cmx_3600, ale).

    ``video_track`` picks the track an EDL holds (EDLs have one video track; default: the
    topmost one with clips, which on a result timeline is the newest look).
    """
    fmt = canonical_format(fmt)
    info = FORMATS[fmt]
    if info.binary or info.directory:
        raise TimelineError(f"{fmt} is not a text format", hint="use timeline_to_bytes or a file")
    prepared = writeback.prepare_for_write(timeline, fmt, video_track=video_track)
    try:
        if fmt == "otio_json":
            text: str = otio.adapters.otio_json.write_to_string(prepared)
        elif fmt == "fcpx_xml":
            from kling_bridge.timeline.fcpx_exact import write_fcpx_string

            text = write_fcpx_string(prepared, timeline.global_start_time)
        elif fmt == "cmx_3600":
            text = writeback.finish_edl(_adapter("cmx_3600").write_to_string(prepared), prepared)
        elif fmt == "ale":
            text = _adapter("ale").write_to_string(
                prepared, fps=writeback.timeline_rate_float(timeline)
            )
        else:
            text = _adapter(fmt).write_to_string(prepared)
    except otio.exceptions.OTIOError as exc:
        raise TimelineError(f"cannot be written as {fmt}: {exc}", item=timeline.name) from exc
    except (ValueError, KeyError, AttributeError, TypeError, IndexError) as exc:
        # a crash inside an adapter's writer says nothing to an editor: say what happened
        raise TimelineError(f"cannot be written as {fmt}", item=timeline.name,
                            hint=f"please report it with the timeline ({type(exc).__name__} in "
                            f"the {fmt} writer); the results are in the output folder") from exc
    return text


def timeline_to_bytes(timeline: otio.schema.Timeline, fmt: str) -> bytes:
    """Any non-folder format as bytes (``otioz`` and ``AAF`` go through a temporary file)."""
    fmt = canonical_format(fmt)
    info = FORMATS[fmt]
    if info.directory:
        raise TimelineError(f"{fmt} is a folder bundle", hint="write it with write_timeline")
    if not info.binary:
        return timeline_to_string(timeline, fmt).encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="kb-tl-") as tmp:
        target = Path(tmp) / ("out" + info.suffixes[0])
        _write_binary(timeline, target, fmt)
        return target.read_bytes()


def write_timeline(
    timeline: otio.schema.Timeline,
    path: Path,
    fmt: str | None = None,
    *,
    replace: bool = False,
    video_track: int | str | None = None,
) -> Path:
    """Write atomically (temporary name in the same folder, then rename); returns ``path``.

    ``fmt`` defaults to the one the extension names. An existing file or folder is only
    replaced with ``replace=True`` -- never pass that for the editor's own timeline.
    """
    path = Path(path)
    fmt = canonical_format(fmt) if fmt else _format_for_new_path(path)
    if path.exists() and not replace:
        raise TimelineError(
            "already exists; the bridge does not overwrite timelines",
            path=str(path),
            hint="choose another name (see result_path) or remove the old file",
        )
    if not path.parent.is_dir():
        raise TimelineError("folder does not exist", path=str(path.parent))
    info = FORMATS[fmt]
    if path.suffix.lower() == ".fcpxmld" or info.directory:
        return _write_folder(timeline, path, fmt)
    with atomic_output(path) as tmp:
        if info.binary:
            _write_binary(timeline, tmp, fmt)
        else:
            tmp.write_bytes(timeline_to_string(timeline, fmt, video_track=video_track).encode())
    return path


def result_path(source: Path, fmt: str | None = None, tag: str = "kling") -> Path:
    """A fresh name beside ``source`` for its result timeline: ``cut.kling.otio``, ``-2``..."""
    source = Path(source)
    suffix = suffix_for(fmt) if fmt else source.suffix or ".otio"
    stem = source.name[: -len(source.suffix)] if source.suffix else source.name
    candidate = source.with_name(f"{stem}.{tag}{suffix}")
    counter = 2
    while candidate.exists():
        candidate = source.with_name(f"{stem}.{tag}-{counter}{suffix}")
        counter += 1
    return candidate


def _format_for_new_path(path: Path) -> str:
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise TimelineError(
            f"cannot tell which format to write from the extension {path.suffix!r}",
            path=str(path),
            hint="use .otio, .otioz, .otiod, .xml, .fcpxml, .fcpxmld, .edl, .aaf or .ale",
        )
    return fmt


_MISSING_IF_NOT_FILE = file_bundle_utils.MediaReferencePolicy.MissingIfNotFile


def _write_binary(timeline: otio.schema.Timeline, target: Path, fmt: str) -> None:
    prepared = writeback.prepare_for_write(timeline, fmt)
    try:
        if fmt == "AAF":
            _write_aaf(prepared, target)
        else:
            otioz.write_to_file(prepared, str(target), media_policy=_MISSING_IF_NOT_FILE)
    except (otio.exceptions.OTIOError, ValueError, AttributeError, TypeError,
            KeyError) as exc:
        raise TimelineError(f"cannot be written as {FORMATS[fmt].name}", path=str(target),
                            hint=f"please report it with the timeline ({type(exc).__name__}"
                            f" in the {fmt} writer)") from exc


def _write_aaf(prepared: otio.schema.Timeline, target: Path) -> None:
    """The AAF adapter's writer, and again with its own descriptors for every clip when it
    refuses the ones the reader kept: a result is written rather than lost after a render."""
    writer = _adapter("AAF")
    try:
        writer.write_to_file(prepared, str(target), use_empty_mob_ids=True)
    except (KeyError, AttributeError, TypeError, ValueError):
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        writer.write_to_file(writeback.without_aaf_descriptors(prepared), str(target),
                             use_empty_mob_ids=True)


def _write_folder(timeline: otio.schema.Timeline, path: Path, fmt: str) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    built = staging / path.name
    try:
        if fmt == "otiod":
            prepared = writeback.prepare_for_write(timeline, fmt)
            otiod.write_to_file(prepared, str(built), media_policy=_MISSING_IF_NOT_FILE)
        else:  # .fcpxmld: a folder holding Info.fcpxml
            built.mkdir()
            (built / "Info.fcpxml").write_text(
                timeline_to_string(timeline, "fcpx_xml"), encoding="utf-8"
            )
        old = None
        if path.exists():
            old = staging / (path.name + ".old")
            os.replace(path, old)
        os.replace(built, path)
    except otio.exceptions.OTIOError as exc:
        raise TimelineError(f"cannot be written as {fmt}: {exc}", path=str(path)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
