"""Hostile and clumsy inputs, by class: what an attacker or a tired editor sends.

``Sandbox`` makes the files the requests point at (a FIFO, a symlink to /dev/zero, a text
file named .aaf, an XML bomb, a 70 MB sparse "timeline"...), all under one folder whose
contents a test can fingerprint before and after. ``CASES`` maps each class of the issue to
requests and the answer each must get: a status, an error code, and words the message
must hold so a person knows what was wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sandbox:
    root: Path

    def __getattr__(self, name: str) -> str:
        return str(self.root / FILES[name])


FILES = {
    "clip": "clip.mp4",
    "still": "still.png",
    "wav": "line.wav",
    "fifo": "pipe.mov",
    "fifo_timeline": "pipe.fcpxml",
    "zero_link": "zero.mov",
    "zero_timeline": "zero.otio",
    "folder": "folder.mov",
    "empty": "empty.mov",
    "text_as_mov": "notes.mov",
    "fake_aaf": "cut.aaf",
    "junk_edl": "junk.edl",
    "junk_xml": "junk.xml",
    "bomb_xml": "bomb.xml",
    "xxe_xml": "xxe.xml",
    "deep_otio": "deep.otio",
    "truncated_otio": "truncated.otio",
    "huge_fcpxml": "huge.fcpxml",
    "not_zip_otioz": "notzip.otioz",
    "slip_otioz": "slip.otioz",
    "environ_link": "environ.otio",
    "marked_otio": "marked.otio",
    "many_clips_otio": "many.otio",
}


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-v", "error", *args], check=True)


def make_sandbox(root: Path) -> Sandbox:
    root.mkdir(parents=True, exist_ok=True)
    sb = Sandbox(root)
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=0.4",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", sb.clip)
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1", sb.still)
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=220:duration=3", sb.wav)
    os.mkfifo(sb.fifo)
    os.mkfifo(sb.fifo_timeline)
    os.symlink("/dev/zero", sb.zero_link)
    os.symlink("/dev/zero", sb.zero_timeline)
    os.symlink("/proc/self/environ", sb.environ_link)
    Path(sb.folder).mkdir()
    Path(sb.empty).write_bytes(b"")
    Path(sb.text_as_mov).write_text("this is a shopping list, not a movie\n")
    Path(sb.fake_aaf).write_text("not an AAF at all, only words in a file called .aaf\n")
    Path(sb.junk_edl).write_bytes(os.urandom(4096))
    Path(sb.junk_xml).write_text("<xmeml version='5'><sequence><name>cut</name>")
    Path(sb.bomb_xml).write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
                  for i in range(1, 10)).replace("&lol0;", "&lol;")
        + ']>\n<xmeml version="5"><sequence><name>&lol9;</name></sequence></xmeml>\n')
    Path(sb.xxe_xml).write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY leak SYSTEM "file:///etc/passwd">]>\n'
        '<xmeml version="5"><sequence><name>&leak;</name></sequence></xmeml>\n')
    Path(sb.deep_otio).write_text('{"OTIO_SCHEMA": "Timeline.1", "metadata": '
                                  + '{"a": ' * 5000 + "1" + "}" * 5000 + "}")
    Path(sb.truncated_otio).write_text('{"OTIO_SCHEMA": "Timeline.1", "name": "cut", "tra')
    with open(sb.huge_fcpxml, "wb") as fh:  # sparse: 70 MB on paper, nothing on disk
        fh.write(b'<?xml version="1.0"?><fcpxml version="1.10">')
        fh.truncate(70 * 1024 * 1024)
    Path(sb.not_zip_otioz).write_text("PK? no, plain text")
    with zipfile.ZipFile(sb.slip_otioz, "w") as archive:
        archive.writestr("content.otio", '{"OTIO_SCHEMA": "Timeline.1"}')
        archive.writestr("../../escaped.txt", "written outside the cache")
    Path(sb.marked_otio).write_text(json.dumps(timeline_with_clips(sb.clip, 1)))
    Path(sb.many_clips_otio).write_text(json.dumps(timeline_with_clips(sb.clip, 600)))
    return sb


def timeline_with_clips(path: str, count: int) -> dict[str, Any]:
    """An OTIO timeline of ``count`` 5-frame clips of ``path``, every one marked."""

    def rt(value: int) -> dict[str, Any]:
        return {"OTIO_SCHEMA": "RationalTime.1", "rate": 25.0, "value": float(value)}

    clip = {
        "OTIO_SCHEMA": "Clip.2", "name": "shot", "enabled": True, "effects": [],
        "markers": [], "color": None,
        "metadata": {"kling_bridge": {"selected": True}},
        "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": rt(0), "duration": rt(5)},
        "active_media_reference_key": "DEFAULT_MEDIA",
        "media_references": {"DEFAULT_MEDIA": {
            "OTIO_SCHEMA": "ExternalReference.1", "name": "", "metadata": {},
            "target_url": "file://" + path, "available_range": {
                "OTIO_SCHEMA": "TimeRange.1", "start_time": rt(0), "duration": rt(10)},
            "available_image_bounds": None}},
    }
    track = {"OTIO_SCHEMA": "Track.1", "name": "V1", "kind": "Video", "enabled": True,
             "effects": [], "markers": [], "metadata": {}, "source_range": None, "color": None,
             "children": [dict(clip, name=f"shot {i}") for i in range(count)]}
    return {"OTIO_SCHEMA": "Timeline.1", "name": "cut", "metadata": {},
            "global_start_time": rt(0),
            "tracks": {"OTIO_SCHEMA": "Stack.1", "name": "tracks", "enabled": True,
                       "effects": [], "markers": [], "metadata": {}, "source_range": None,
                       "color": None, "children": [track]}}


def fingerprint(root: Path) -> dict[str, str]:
    """Every entry under ``root``: its kind and, for regular files, size and digest."""
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            p = Path(folder) / name
            st = p.lstat()
            if p.is_symlink():
                out[str(p)] = "link:" + os.readlink(p)
            elif p.is_file() and not p.is_fifo():
                digest = hashlib.sha256(p.read_bytes()).hexdigest() if st.st_blocks else "sparse"
                out[str(p)] = f"file:{st.st_size}:{digest}:{st.st_mtime_ns}"
            else:
                out[str(p)] = f"other:{st.st_mode:o}"
    return out


Body = Callable[[Sandbox], Any]


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    body: Body | None = None
    raw: bytes | None = None
    method: str = "POST"
    status: int = 400
    code: str | tuple[str, ...] = "bad_request"
    words: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


def _gen(**fields: Any) -> Body:
    return lambda sb: {"prompt": "a lighthouse", "dry_run": True, **fields}


def _lipsync(**fields: Any) -> Body:
    return lambda sb: {"audio": sb.wav, "image": sb.still, "dry_run": True, **fields}


def _restyle(**fields: Any) -> Body:
    return lambda sb: {"look": {"preset": "film-noir"}, "dry_run": True,
                       **{k: (v(sb) if callable(v) else v) for k, v in fields.items()}}


def _clip(**fields: Any) -> Callable[[Sandbox], list[dict[str, Any]]]:
    return lambda sb: [{"path": sb.clip, **fields}]


RATES = ["abc", "0", "1/0", "-25", "25/0", "1e309", "", "24/", "0/1001", "99999/1",
         "NaN", " 25; rm -rf ~"]

CASES: dict[str, list[Case]] = {
    # Values that used to parse late: 500s, "internal error" jobs, timelines that broke later.
    "rates": [
        *(Case(f"clip rate {r!r}", "/v1/restyle", _restyle(clips=_clip(rate=r)),
               words=("clips.0.rate",)) for r in RATES),
        *(Case(f"conform rate {r!r}", "/v1/generate",
               _gen(conform={"rate": r, "width": 640, "height": 360}),
               words=("conform.rate",)) for r in RATES),
        *(Case(f"placement rate {r!r}", "/v1/generate",
               _gen(placement={"timeline_rate": r}, dry_run=False),
               words=("placement.timeline_rate",)) for r in RATES),
        *(Case(f"lipsync placement rate {r!r}", "/v1/lipsync",
               _lipsync(placement={"timeline_rate": r}),
               words=("placement.timeline_rate",)) for r in ("abc", "1/0", "-25")),
    ],
    # Paths: by text (NUL, relative, system folders) and by kind (devices, FIFOs, folders).
    "paths": [
        Case("NUL in clip path", "/v1/restyle",
             _restyle(clips=lambda sb: [{"path": "/tmp/a\x00b"}]), words=("NUL",)),
        Case("NUL in image", "/v1/generate", _gen(image="/tmp/x\x00.png"), words=("NUL",)),
        Case("NUL in timeline_path", "/v1/restyle", _restyle(timeline_path="/x\x00.otio"),
             words=("NUL",)),
        Case("NUL in audio", "/v1/lipsync", lambda sb: {"audio": "/a\x00.wav", "image": sb.still},
             words=("NUL",)),
        Case("relative clip path", "/v1/restyle",
             _restyle(clips=lambda sb: [{"path": "media/clip.mp4"}]), words=("absolute",)),
        Case("relative timeline", "/v1/restyle", _restyle(timeline_path="cut.otio"),
             words=("absolute",)),
        Case("relative image", "/v1/generate", _gen(image="still.png"), words=("absolute",)),
        Case("/dev/zero as clip", "/v1/restyle",
             _restyle(clips=lambda sb: [{"path": "/dev/zero"}]), words=("/dev",)),
        Case("/proc file as timeline", "/v1/restyle",
             _restyle(timeline_path="/proc/self/environ"), words=("/proc",)),
        Case("/sys file as image", "/v1/generate",
             _gen(image="/sys/kernel/mm/transparent_hugepage/enabled"), words=("/sys",)),
        Case("FIFO as clip", "/v1/restyle", _restyle(clips=lambda sb: [{"path": sb.fifo}]),
             code="media_unreadable", words=("pipe",)),
        Case("FIFO as image", "/v1/generate", lambda sb: {"prompt": "x", "image": sb.fifo},
             code="bad_path", words=("pipe",)),
        Case("FIFO as audio", "/v1/lipsync", lambda sb: {"audio": sb.fifo, "image": sb.still},
             code="bad_path", words=("pipe",)),
        Case("FIFO as frame_of", "/v1/generate",
             lambda sb: {"prompt": "x", "frame_of": {"path": sb.fifo}},
             code="media_unreadable", words=("pipe",)),
        Case("link to /dev/zero as clip", "/v1/restyle",
             _restyle(clips=lambda sb: [{"path": sb.zero_link}]),
             code="media_unreadable", words=("character device",)),
        Case("link to /dev/zero as end image", "/v1/generate",
             lambda sb: {"prompt": "x", "end_image": sb.zero_link},
             code="bad_path", words=("character device",)),
        Case("link to /dev/zero as reference image", "/v1/restyle",
             _restyle(clips=_clip(), reference_image=lambda sb: sb.zero_link),
             code="bad_path", words=("character device",)),
        Case("folder as clip", "/v1/restyle", _restyle(clips=lambda sb: [{"path": sb.folder}]),
             code="media_unreadable", words=("folder",)),
        Case("folder as video", "/v1/lipsync",
             lambda sb: {"audio": sb.wav, "video": sb.folder}, code="bad_path",
             words=("folder",)),
        Case("empty file as clip", "/v1/restyle", _restyle(clips=lambda sb: [{"path": sb.empty}]),
             code="media_empty", words=("empty",)),
        Case("text file as clip", "/v1/restyle",
             _restyle(clips=lambda sb: [{"path": sb.text_as_mov}]), code="media_corrupt",
             words=("notes.mov",)),
        Case("missing clip", "/v1/restyle",
             _restyle(clips=lambda sb: [{"path": str(sb.root / "gone.mov")}]),
             code="media_missing", words=("gone.mov",)),
        Case("very long path", "/v1/generate", _gen(image="/" + "a" * 5000),
             words=("image",)),
    ],
    # Timeline files: unbounded reads, blocked threads, and adapters that raised 500s.
    "timelines": [
        Case("/dev/zero via link as timeline", "/v1/restyle",
             _restyle(timeline_path=lambda sb: sb.zero_timeline), code="bad_timeline",
             words=("character device",)),
        Case("FIFO as timeline", "/v1/restyle", _restyle(timeline_path=lambda sb: sb.fifo_timeline),
             code="bad_timeline", words=("pipe",)),
        Case("link to /proc as timeline", "/v1/restyle",
             _restyle(timeline_path=lambda sb: sb.environ_link), code="bad_timeline",
             words=("/proc",)),
        Case("text named .aaf", "/v1/restyle", _restyle(timeline_path=lambda sb: sb.fake_aaf),
             code="bad_timeline", words=("cut.aaf", "AAF")),
        Case("random bytes named .edl", "/v1/restyle",
             _restyle(timeline_path=lambda sb: sb.junk_edl), code="bad_timeline",
             words=("junk.edl",)),
        Case("truncated FCP XML", "/v1/restyle", _restyle(timeline_path=lambda sb: sb.junk_xml),
             code="bad_timeline", words=("junk.xml",)),
        Case("XML entity bomb", "/v1/restyle", _restyle(timeline_path=lambda sb: sb.bomb_xml),
             code="bad_timeline", words=("bomb.xml",)),
        Case("XML external entity", "/v1/restyle", _restyle(timeline_path=lambda sb: sb.xxe_xml),
             code="bad_timeline", words=("xxe.xml",)),
        Case("OTIO nested 5000 deep", "/v1/restyle",
             _restyle(timeline_path=lambda sb: sb.deep_otio), code="bad_timeline",
             words=("deep.otio",)),
        Case("truncated OTIO", "/v1/restyle", _restyle(timeline_path=lambda sb: sb.truncated_otio),
             code="bad_timeline", words=("truncated.otio",)),
        Case("70 MB timeline", "/v1/restyle", _restyle(timeline_path=lambda sb: sb.huge_fcpxml),
             code="bad_timeline", words=("MB",)),
        Case(".otioz that is no zip", "/v1/restyle",
             _restyle(timeline_path=lambda sb: sb.not_zip_otioz), code="bad_timeline",
             words=("notzip.otioz",)),
        Case(".otioz escaping its folder", "/v1/restyle",
             _restyle(timeline_path=lambda sb: sb.slip_otioz), code="bad_timeline",
             words=("unsafe",)),
        Case("timeline format not known", "/v1/restyle",
             _restyle(timeline_path=lambda sb: sb.marked_otio, timeline_format="premiere-pro-9"),
             words=("timeline_format",)),
        Case("inline timeline of another schema", "/v1/restyle",
             _restyle(timeline={"OTIO_SCHEMA": "HoloDeck.9", "name": "x"}), code="bad_timeline",
             words=("unsupported schema",)),
        Case("inline timeline as a list", "/v1/restyle", _restyle(timeline=[1, 2]),
             words=("timeline",)),
    ],
    # Bodies: nesting, size, encodings, numbers JSON does not have.
    "json": [
        Case("nested 100,000 deep", "/v1/generate", raw=b"[" * 100_000 + b"]" * 100_000,
             code="too_deep", words=("deeper",)),
        Case("object nested 5,000 deep", "/v1/generate",
             raw=b'{"prompt": "x", "z": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001,
             code="too_deep", words=("deeper",)),
        Case("NaN", "/v1/lipsync",
             raw=b'{"audio": "/a.wav", "image": "/b.png", "audio_start": NaN}',
             code="bad_json", words=("NaN",)),
        Case("Infinity", "/v1/generate", raw=b'{"prompt": "x", "duration": Infinity}',
             code="bad_json", words=("Infinity",)),
        Case("not UTF-8", "/v1/generate", raw=b'{"prompt": "\xff\xfe\xfa"}', code="bad_json"),
        Case("a list", "/v1/generate", raw=b"[1, 2, 3]", words=("object",)),
        Case("a string", "/v1/generate", raw=b'"prompt"', words=("object",)),
        Case("empty body", "/v1/generate", raw=b"", code="bad_json"),
        Case("33 MB body", "/v1/generate", raw=b'{"prompt": "' + b"x" * (33 << 20) + b'"}',
             status=413, code="too_large", words=("too large",)),
        Case("form body", "/v1/generate", raw=b"prompt=x", status=415, code="json_required",
             headers={"Content-Type": "application/x-www-form-urlencoded"}),
        Case("unknown field", "/v1/generate", _gen(promt="typo"), words=("promt",)),
        Case("huge integer", "/v1/generate", _gen(duration=2**80), words=("duration",)),
        Case("string for integer", "/v1/generate", _gen(variants="many"), words=("variants",)),
        Case("negative start frame", "/v1/restyle", _restyle(clips=_clip(start_frame=-1)),
             words=("start_frame",)),
        Case("control characters in prompt", "/v1/generate", _gen(prompt="a\x00b\x1bc"),
             words=("control",)),
        Case("preset id with a slash", "/v1/restyle",
             lambda sb: {"clips": [{"path": sb.clip}], "look": {"preset": "../../etc/passwd"}},
             words=("preset",)),
        Case("unknown provider", "/v1/generate", _gen(provider="kling2"),
             code="unknown_provider", words=("kling2",)),
        Case("provider with symbols", "/v1/generate", _gen(provider="dra ft;"),
             words=("provider",)),
        Case("range end that is no timecode", "/v1/restyle",
             _restyle(timeline_path=lambda sb: sb.marked_otio,
                      select={"mode": "range", "range": ["soon", "later"]}),
             words=("select.range",)),
    ],
    # One request must not freeze the daemon or create a mountain of jobs.
    "caps": [
        Case("20,000 looks", "/v1/restyle",
             lambda sb: {"clips": [{"path": sb.clip}], "variants": 8, "dry_run": True,
                         "looks": [{"preset": "film-noir"}] * 20_000},
             words=("looks",)),
        Case("501 clips", "/v1/restyle",
             lambda sb: {"clips": [{"path": sb.clip}] * 501, "look": {"preset": "film-noir"}},
             words=("clips",)),
        Case("500 clips x 3 looks", "/v1/restyle",
             lambda sb: {"clips": [{"path": sb.clip}] * 500, "dry_run": True,
                         "looks": [{"preset": "film-noir"}, {"preset": "watercolor"},
                                   {"preset": "anime-cel"}]},
             code="too_many_jobs", words=("1500", "1000")),
        Case("600 marked clips x 2 looks", "/v1/restyle",
             lambda sb: {"timeline_path": sb.many_clips_otio, "select": {"mode": "all"},
                         "looks": [{"preset": "film-noir"}, {"preset": "watercolor"}]},
             code="too_many_jobs", words=("1200",)),
        Case("9 variants", "/v1/generate", _gen(variants=9), words=("variants",)),
        Case("7 shots", "/v1/generate",
             _gen(shots=[{"prompt": "a", "duration": 2}] * 7), words=("shots",)),
        Case("shot prompt of 600 characters", "/v1/generate",
             _gen(shots=[{"prompt": "a" * 600, "duration": 3}]), words=("shots.0.prompt",)),
        Case("prompt of 3000 characters", "/v1/generate", _gen(prompt="a" * 3000),
             words=("prompt",)),
        Case("101 select values", "/v1/restyle",
             _restyle(timeline_path=lambda sb: sb.marked_otio,
                      select={"mode": "color", "values": ["Red"] * 101}),
             words=("select.values",)),
    ],
    # Query strings and ids.
    "queries": [
        Case("format not known", "/v1/batches/b00000000000000000000000/timeline?format=pdf",
             method="GET", code="bad_format", words=("pdf",)),
        Case("limit 0", "/v1/jobs?limit=0", method="GET", code="bad_limit", words=("limit",)),
        Case("limit abc", "/v1/jobs?limit=abc", method="GET", code="bad_limit"),
        Case("limit 501", "/v1/jobs?limit=501", method="GET", code="bad_limit"),
        Case("state not known", "/v1/jobs?state=exploded", method="GET", code="bad_state",
             words=("exploded",)),
        Case("batch id with quotes", "/v1/jobs?batch=b'--", method="GET", code="bad_id"),
        Case("job id of another shape", "/v1/jobs/j0", method="GET", status=404,
             code="not_found"),
        Case("path traversal in id", "/v1/jobs/..%2f..%2fetc%2fpasswd", method="GET",
             status=404, code="not_found"),
        Case("batch not there", "/v1/batches/b00000000000000000000000", method="GET",
             status=404, code="not_found"),
        Case("PUT where only GET", "/v1/jobs", method="PUT", raw=b"{}", status=405,
             code="method_not_allowed"),
    ],
}
