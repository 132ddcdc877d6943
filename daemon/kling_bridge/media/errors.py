"""Media errors that tell an editor which file is wrong, what is wrong, and what to do.

The media layer cannot import the job layer, so it raises these; the pipeline translates
them into ``PipelineError`` (same message, hint and code). Every subclass carries a short
machine ``code`` so the API and plugins can react without parsing prose.
"""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """Base: ``path`` is the file at fault (or ``None`` for tool problems)."""

    code = "bad_media"

    def __init__(self, path: str | Path | None, problem: str, hint: str = "") -> None:
        self.path = str(path) if path is not None else None
        self.problem = problem
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class MediaMissing(MediaError):
    code = "media_missing"


class MediaUnreadable(MediaError):
    """Exists but cannot be opened (permissions, a folder, a broken link)."""

    code = "media_unreadable"


class MediaEmpty(MediaError):
    code = "media_empty"


class NotAVideo(MediaError):
    """Readable, but holds no video stream (audio only, an image, a text file)."""

    code = "not_a_video"


class MediaCorrupt(MediaError):
    """Truncated or damaged: ffprobe/ffmpeg fail part way or find no frames."""

    code = "media_corrupt"


class RangeOutsideMedia(MediaError):
    """The requested frames are not all in the file."""

    code = "range_outside_media"


class ToolMissing(MediaError):
    """ffmpeg/ffprobe is not installed: nothing here can work until it is."""

    code = "ffmpeg_missing"


class FfmpegFailed(MediaError):
    """ffmpeg exited non-zero on input we had already accepted; ``detail`` is its stderr tail."""

    code = "ffmpeg_failed"

    def __init__(
        self, path: str | Path | None, problem: str, hint: str = "", detail: str = ""
    ) -> None:
        self.detail = detail
        super().__init__(path, problem, hint)


class PresetError(MediaError):
    """A preset file is broken or a preset id is unknown; ``path`` names the file."""

    code = "bad_preset"
