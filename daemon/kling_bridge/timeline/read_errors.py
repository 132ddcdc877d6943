"""How a reader's failure is told to an editor: which file, which item, what to do.

The adapters fail in their own words (an XML parse error, an OTIO error, a Python error
from deep inside an adapter); one place turns each into a :class:`.TimelineError` so every
format's refusals read alike. Kept apart from the readers in :mod:`.formats` so the read
path stays readable.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from xml.etree.ElementTree import ParseError

import opentimelineio as otio

from kling_bridge.fileguard import UnsafeFile
from kling_bridge.timeline import quirks
from kling_bridge.timeline.errors import TimelineError
from kling_bridge.timeline.format_names import LABELS

_LOG = logging.getLogger(__name__)


def explain_json(text: str, where: str) -> None:
    """Turn OTIO's parse failure into what is wrong and where (raises when it can tell)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TimelineError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            path=where,
            hint="export the timeline again; the file may be truncated",
        ) from exc
    if not isinstance(document, dict) or "OTIO_SCHEMA" not in document:
        raise TimelineError("JSON but not an OpenTimelineIO document (no OTIO_SCHEMA)",
                            path=where, hint="send an .otio timeline")
    unknown = quirks.unknown_schemas(document)
    if unknown:
        item, schema = unknown[0]
        raise TimelineError(
            f"unsupported schema {schema!r}",
            path=where,
            item=item or None,
            hint=f"this OpenTimelineIO ({otio.__version__}) cannot read it; export with an "
            "older OTIO schema or upgrade OpenTimelineIO",
        )


@contextlib.contextmanager
def adapter_errors(where: str, fmt: str) -> Iterator[None]:
    """Reader failures -> TimelineError naming the file (and item when they say).

    A reader's own refusals (OpenTimelineIO errors, an EDL parse error) say what is wrong
    and are passed on; a Python error from inside an adapter (``'NoneType' object has no
    attribute 'tag'``) says nothing to an editor, so it is logged and replaced by what it
    means: the file is not complete or not shaped as the format's exporters write it.
    """
    label = LABELS.get(fmt, fmt)
    try:
        yield
    except TimelineError as exc:
        if exc.path is None:
            raise TimelineError(exc.problem, path=where, item=exc.item, hint=exc.hint) from exc
        raise
    except UnsafeFile as exc:  # the file itself (a relative path, a FIFO, too large)
        raise TimelineError(exc.problem, path=exc.path, hint=exc.hint or None) from exc
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise TimelineError(
            f"not well-formed XML (line {line}, column {column})",
            path=where,
            hint="export the timeline again; the file may be truncated or hand-edited",
        ) from exc
    except UnicodeDecodeError as exc:
        raise TimelineError(f"not a text file ({exc.reason})", path=where) from exc
    except otio.exceptions.OTIOError as exc:
        raise TimelineError(
            f"cannot be read as {label}: {_sentence(str(exc))}",
            path=where,
            hint=f"check that the file really is {label} and was exported completely",
        ) from exc
    except (ValueError, KeyError, AttributeError, TypeError, IndexError) as exc:
        _LOG.info("reading %s as %s failed inside the adapter: %r", where, fmt, exc)
        raise TimelineError(
            f"cannot be read as {label}: something the format requires is missing or not "
            "where its exporters put it",
            path=where,
            hint=f"export the timeline from the editor again as {label} (not hand-edited "
            "or cut short); if it still fails, report it with the file",
        ) from exc


def _sentence(message: str) -> str:
    return message.strip().rstrip(".") or "the reader refused it"
