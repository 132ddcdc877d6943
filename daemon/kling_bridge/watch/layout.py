"""A watch folder's layout: what lives where, and the README.txt that tells the editor.

::

    <folder>/
      README.txt            what to drop where (this module writes it)
      kling-bridge.toml     optional settings, here or in any subfolder (nearest wins)
      restyle/<look>/       a clip or a timeline -> restyled in that look
      generate/             a prompt (.txt, .json, .toml) or an image + same-named .txt
      processing/           items being worked on (moved here before any work)
      out/                  results (never overwritten: ``-2``, ``-3``... versions)
      processed/            sources whose work is done (never deleted)
      failed/               sources that could not be done, each with <name>.error.txt

Pure except :func:`lay_out`, which creates missing folders and READMEs and never replaces a
file the editor may have edited. An item's *route* is where it was dropped (its first two
path parts); ``processing/``, ``processed/`` and ``failed/`` mirror that path, so a source
always says which look it was for and a restart knows how to resume it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..atomic import place_new

RESTYLE = "restyle"
GENERATE = "generate"
PROCESSING = "processing"
OUT = "out"
PROCESSED = "processed"
FAILED = "failed"
INBOXES = (RESTYLE, GENERATE)
SETTINGS_FILE = "kling-bridge.toml"
README = "README.txt"


@dataclass(frozen=True)
class Route:
    """Where an item was dropped: ``restyle`` with a look (the folder's name) or ``generate``."""

    kind: str  # RESTYLE | GENERATE
    look: str | None = None

    @property
    def folder(self) -> PurePosixPath:
        return PurePosixPath(self.kind, self.look) if self.look else PurePosixPath(self.kind)


@dataclass(frozen=True)
class Misplaced:
    """A file dropped where no route applies (e.g. straight into ``restyle/``)."""

    problem: str
    hint: str


def route_of(rel: PurePosixPath) -> Route | Misplaced | None:
    """The route of an item at ``rel`` (relative to the watch folder); None outside inboxes."""
    parts = rel.parts
    if not parts or parts[0] not in INBOXES:
        return None
    if parts[0] == GENERATE:
        return Route(GENERATE) if len(parts) >= 2 else None
    if len(parts) < 3:
        return Misplaced(
            "it was dropped into restyle/ itself, which has no look",
            "move it into a look's folder, e.g. restyle/film-noir/ (each folder under restyle/ "
            "is a look; make a new one named after any preset, or give it a prompt in its "
            f"{SETTINGS_FILE})",
        )
    return Route(RESTYLE, parts[1])


@dataclass(frozen=True)
class Layout:
    """The folders of one watch folder, as absolute paths."""

    root: Path

    def __getitem__(self, name: str) -> Path:
        return self.root / name

    @property
    def processing(self) -> Path:
        return self.root / PROCESSING

    @property
    def out(self) -> Path:
        return self.root / OUT

    @property
    def processed(self) -> Path:
        return self.root / PROCESSED

    @property
    def failed(self) -> Path:
        return self.root / FAILED

    @property
    def staging(self) -> Path:
        """Results being assembled (a dot folder: hidden, and never taken as a drop)."""
        return self.root / OUT / ".staging"

    def inboxes(self) -> tuple[Path, ...]:
        return tuple(self.root / name for name in INBOXES)

    def rel(self, path: Path) -> PurePosixPath:
        return PurePosixPath(path.relative_to(self.root).as_posix())


ROOT_README = """\
kling-bridge watch folder
=========================

Drop files into the folders here; kling-bridge picks them up once they have finished
copying (a few seconds after they stop changing) and puts the results in out/.

  restyle/<look>/   a clip (mov, mp4, mxf...) or a timeline exported from your editor
                    (OTIO, .otioz, .otiod, Premiere/FCP 7 XML, Final Cut .fcpxml or
                    .fcpxmld, EDL, AAF). Each folder is one look: film-noir, watercolor...
                    Timelines: every clip is restyled unless kling-bridge.toml says
                    otherwise (select = "color:Orange", "track:V2", "marked"...), and a
                    result timeline in the same format comes back with the restyled clips
                    on a new track exactly over their sources.
  generate/         a prompt: a .txt file (the words), or a .json/.toml file with prompt,
                    duration, aspect, audio, shots; or an image with a .txt of the same
                    name (image to video).
  processing/       being worked on now. Leave these alone.
  out/              the results. Nothing here is ever overwritten: a second result of the
                    same name gets -2, -3...
  processed/        your sources once their results are in out/ (never deleted).
  failed/           sources that could not be done, each beside <name>.error.txt saying
                    what was wrong and what to do. Fix it and drop it in again.

Settings: put a kling-bridge.toml here (for everything) or in any folder below (for what
is dropped there; the nearest one wins). See the one here for every setting.
Dropping the same file again (or a copy) with the same settings does not redo or re-pay
it: the earlier results are kept, and put back in out/ if they went missing.
`kling-bridge status` shows how many items are waiting, working, done and failed.
"""

SETTINGS_TEMPLATE = """\
# kling-bridge watch folder settings. Uncomment what you want to change.
# A kling-bridge.toml in a subfolder (e.g. restyle/film-noir/) overrides this one there.

# provider = "draft"        # "draft" (free, local previews) or "kling" (paid, needs login)
# model = "kling-3.0-omni"  # the Kling model (restyle: an omni model)
# resolution = "1080p"      # "720p", "1080p" or "4k"
# variants = 1              # takes per clip or prompt (each one is paid)
# budget_units = 50         # refuse any drop whose estimate is higher (sent to failed/)

# Timelines
# select = "all"            # "all", "marked", "color:Orange,Teal", "track:V2",
#                           # "range:01:00:10:00-01:00:20:00", "marker:TEXT"
# handles = 12              # frames of handles each side
# keep_audio = true         # keep each clip's own sound
# format = "fcp_xml"        # result timeline format (default: the one you dropped)

# Looks: a folder under restyle/ named after a preset uses it; any other name needs words
# prompt = "hand-drawn pencil sketch, paper texture"

# Generate defaults (a .json/.toml prompt file can set these per prompt)
# duration = 5              # seconds, 3 to 15
# aspect = "16:9"           # "16:9", "9:16" or "1:1"
# audio = false             # native generated sound
"""

FOLDER_READMES: Mapping[str, str] = {
    RESTYLE: """\
Each folder here is a look. Drop a clip or a timeline into one to have it restyled.
There is a folder for every preset. Make one of your own with any name and give it
words in a kling-bridge.toml inside it:
    prompt = "hand-drawn pencil sketch, paper texture"
""",
    GENERATE: """\
Drop a prompt here to generate a clip:
  shot.txt                 the words of the prompt
  shot.toml / shot.json    prompt = "...", duration = 5, aspect = "16:9", audio = true,
                           negative_prompt = "...", or shots = [{prompt = "...",
                           duration = 3}, ...] for a multi-shot sequence (up to 6 cuts)
  hero.png + hero.txt      image to video: the picture is the first frame (drop the
                           image and its .txt together; an image alone is animated
                           without words)
""",
    PROCESSING: "Items being worked on. Leave them here; they move on by themselves.\n",
    OUT: "Results. Nothing here is overwritten: a newer result of the same name gets -2, -3...\n",
    PROCESSED: "Sources whose results are in out/. Kept, never deleted: tidy up when you like.\n",
    FAILED: """\
Sources that could not be done. Each has a <name>.error.txt beside it saying what was
wrong and what to do. Fix the problem and drop the source into its folder again.
""",
}


def look_readme(look: str, description: str) -> str:
    return (f"Drop a clip or a timeline here to restyle it as: {look}.\n"
            + (f"{description}\n" if description else ""))


def lay_out(root: Path, presets: Iterable[Mapping[str, str]] = ()) -> Layout:
    """Create the folders and READMEs that are missing (never rewrites an existing file)."""
    layout = Layout(root)
    root.mkdir(parents=True, exist_ok=True)
    _write_new(root / README, ROOT_README)
    _write_new(root / SETTINGS_FILE, SETTINGS_TEMPLATE)
    for name, text in FOLDER_READMES.items():
        (root / name).mkdir(exist_ok=True)
        _write_new(root / name / README, text)
    for preset in presets:
        folder = root / RESTYLE / preset["id"]
        folder.mkdir(exist_ok=True)
        _write_new(folder / README, look_readme(preset["id"], preset.get("description", "")))
    return layout


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless something is there already (atomic, no clobber)."""
    if path.exists():
        return
    with contextlib.suppress(FileExistsError):
        place_new([path], lambda tmp: tmp.write_text(text, encoding="utf-8"))
