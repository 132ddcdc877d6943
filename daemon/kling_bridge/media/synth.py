"""Sample footage made with ffmpeg: what tests, benchmarks and ``kling-bridge demo`` run on.

Real editors bring 23.976 ProRes scope, 59.94 phone verticals, interlaced broadcast,
variable-rate phone clips, rotated clips, timecoded camera originals. Each of those is one
flag here, so a test states the footage it needs in a line and the demo needs no download.
Frame counts and audio lengths are exact (a frame-exact ``trim`` and a sample-exact ``atrim``), so
tests can assert equality, not closeness.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from ..specs import parse_rate
from .fonts import drawtext_font
from .run import atomic_output, ffmpeg_args, ffmpeg_bin, run

PATTERNS = ("testsrc2", "testsrc", "mandelbrot", "smptehdbars", "life", "gradients", "plain")


@dataclass(frozen=True)
class SynthSpec:
    width: int = 320
    height: int = 180
    rate: str = "25"
    frames: int = 50
    pattern: str = "testsrc2"
    audio: bool = True
    sample_rate: int = 48000
    channels: int = 2
    tone_hz: int = 440
    ramp_audio: bool = False  # a sawtooth whose value tells the sample's index (mod RAMP)
    pcm_audio: bool = False  # PCM instead of AAC (mov/mkv/wav): exact sample positions
    timecode: str | None = None  # "01:00:00:00" (or ";" for drop-frame) as a tmcd track
    codec: str = "h264"  # h264 | prores | mjpeg
    preset: str = "ultrafast"
    crf: int = 23
    gop: int | None = None  # long GOPs make frame-exact cutting honest
    interlaced: bool = False  # top field first, coded interlaced
    vfr: bool = False  # drop every 7th frame and keep the gaps (a phone's variable rate)
    rotation: int | None = None  # display-matrix rotation written without re-encoding
    label: str | None = None  # words burnt in (the demo's clip names)
    frame_numbers: bool = False  # burn "frame N" in, to see a cut land
    barcode: bool = False  # frame number as 12 black/white cells along the top (machine-read)

    @property
    def fps(self) -> Fraction:
        return parse_rate(self.rate)

    @property
    def seconds(self) -> float:
        return float(self.frames / self.fps)

    @property
    def audio_samples(self) -> int:
        return round(self.frames / self.fps * self.sample_rate)


def _source(spec: SynthSpec, rate: Fraction) -> str:
    size = f"{spec.width}x{spec.height}"
    r = f"{rate.numerator}/{rate.denominator}"
    if spec.pattern == "mandelbrot":
        return f"mandelbrot=size={size}:rate={r}"
    if spec.pattern == "life":
        return f"life=size={size}:rate={r}:mold=10:ratio=0.1:death_color=#202040"
    if spec.pattern == "gradients":
        return f"gradients=size={size}:rate={r}:speed=0.02"
    if spec.pattern == "plain":
        # Low detail, cheap to make and encode, still moving: long round trips and benches.
        return (f"color=c=0x404850:size={size}:rate={r},"
                f"drawbox=x='mod(t*iw/4\\,iw)':y=ih/3:w=iw/10:h=ih/5:color=orange:t=fill")
    if spec.pattern in ("testsrc", "smptehdbars"):
        return f"{spec.pattern}=size={size}:rate={r}"
    return f"testsrc2=size={size}:rate={r}"


def _video_filters(spec: SynthSpec) -> list[str]:
    # trim, not -frames:v: ffmpeg closes the whole file when one stream hits -frames, which
    # would cut the audio short of the picture.
    chain: list[str] = [f"trim=end_frame={spec.frames * (2 if spec.interlaced else 1)}"]
    font = drawtext_font()
    if spec.label and font is not None:
        text = _escape_drawtext(spec.label)
        size = max(12, spec.height // 10)
        chain.append(
            f"drawtext={font}:text='{text}':fontsize={size}:fontcolor=white:"
            f"box=1:boxcolor=black@0.6:boxborderw={size // 4}:x=(w-tw)/2:y=h/12"
        )
    if spec.frame_numbers and font is not None:
        size = max(12, spec.height // 8)
        chain.append(
            f"drawtext={font}:text='%{{frame_num}}':start_number=0:fontsize={size}:"
            f"fontcolor=yellow:box=1:boxcolor=black:x=(w-tw)/2:y=h-th-h/12"
        )
    if spec.barcode:
        chain.extend(barcode_filters())
    if spec.interlaced:
        chain.append("tinterlace=mode=interleave_top,setfield=tff")
    if spec.vfr:
        chain.append(r"select='not(eq(mod(n\,7)\,3))'")
    return chain


BARCODE_BITS = 12
RAMP = 4800  # samples per sawtooth period of ``ramp_audio`` (0.1 s at 48 kHz)


def barcode_filters() -> list[str]:
    """Draw the frame number as ``BARCODE_BITS`` cells across the top tenth of the picture.

    Survives scaling, letterboxing and crop-back, compression and a 24 fps retime, so
    round-trip tests can read which source frame every result frame shows.
    """
    out = ["drawbox=x=0:y=0:w=iw:h=ih/10:color=black:t=fill"]
    for bit in range(BARCODE_BITS):
        out.append(
            f"drawbox=x=iw*{bit}/{BARCODE_BITS}:y=0:w=iw/{BARCODE_BITS}:h=ih/10:color=white:"
            f"t=fill:enable='eq(mod(floor(n/{2**bit})\\,2)\\,1)'"
        )
    return out


def _escape_drawtext(text: str) -> str:
    out = text.replace("\\", "\\\\\\\\").replace("'", "\u2019").replace(":", "\\:")
    return out.replace("%", "\\\\%").replace(",", "\\,")


def synth_args(dest: Path, spec: SynthSpec) -> list[str]:
    """The ffmpeg command for ``spec`` (the rotation pass, if any, is separate)."""
    rate = spec.fps * 2 if spec.interlaced else spec.fps
    args = ["-f", "lavfi", "-i", _source(spec, rate)]
    if spec.audio:
        secs = float(spec.audio_samples / spec.sample_rate) + 1.0
        if spec.ramp_audio:
            ramp = "|".join([f"0.9*mod(n\\,{RAMP})/{RAMP}"] * spec.channels)
            args += ["-f", "lavfi", "-i", f"aevalsrc='{ramp}':s={spec.sample_rate}:d={secs:.3f}"]
        else:
            args += ["-f", "lavfi", "-i",
                     f"sine=frequency={spec.tone_hz}:sample_rate={spec.sample_rate}:"
                     f"duration={secs:.3f}:beep_factor=4"]
    chain = _video_filters(spec)
    if chain:
        args += ["-vf", ",".join(chain)]
    if spec.audio:
        layout = "stereo" if spec.channels == 2 else "mono"
        args += ["-af", f"aformat=channel_layouts={layout},atrim=end_sample={spec.audio_samples}"]
    if spec.vfr:
        args += ["-fps_mode", "vfr"]
    if spec.codec == "prores":
        args += ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"]
    elif spec.codec == "mjpeg":
        args += ["-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p"]
    else:
        args += ["-c:v", "libx264", "-preset", spec.preset, "-crf", str(spec.crf),
                 "-pix_fmt", "yuv420p"]
        if spec.gop:
            args += ["-g", str(spec.gop), "-keyint_min", str(spec.gop)]
        if spec.interlaced:
            args += ["-flags", "+ilme+ildct", "-x264opts", "tff=1"]
    if spec.audio:
        pcm = spec.pcm_audio or (dest.suffix.lower() in (".mov", ".mxf")
                                 and spec.codec == "prores")
        args += ["-c:a", "pcm_s24le"] if pcm else ["-c:a", "aac", "-b:a", "128k"]
    if spec.timecode:
        args += ["-timecode", spec.timecode]
    return ffmpeg_args(*args, str(dest))


def make_clip(dest: str | Path, spec: SynthSpec | None = None, **changes: object) -> Path:
    """Write a clip per ``spec`` (plus keyword ``changes``) to ``dest`` atomically."""
    spec = replace(spec or SynthSpec(), **changes)  # type: ignore[arg-type]
    dest = Path(dest)
    with atomic_output(dest) as tmp:
        if spec.rotation is None:
            run(synth_args(tmp, spec), subject=dest, what="making sample footage")
        else:
            plain = dest.with_name(f".{dest.stem}.unrotated{dest.suffix}")
            try:
                run(synth_args(plain, spec), subject=dest, what="making sample footage")
                run(ffmpeg_args("-i", str(plain), "-map", "0", "-c", "copy",
                                "-metadata:s:v:0", f"rotate={spec.rotation}", str(tmp)),
                    subject=dest, what="tagging rotation")
            finally:
                plain.unlink(missing_ok=True)
    return dest


async def amake_clip(dest: str | Path, spec: SynthSpec | None = None, **changes: object) -> Path:
    """:func:`make_clip` off the event loop."""
    return await asyncio.to_thread(make_clip, dest, spec, **changes)


def make_still(dest: str | Path, width: int = 1280, height: int = 720,
               pattern: str = "testsrc2") -> Path:
    """A single PNG/JPEG picture (a reference image for image-to-video)."""
    dest = Path(dest)
    spec = SynthSpec(width=width, height=height, pattern=pattern)
    with atomic_output(dest) as tmp:
        run(ffmpeg_args("-f", "lavfi", "-i", _source(spec, Fraction(25)), "-frames:v", "1",
                        "-update", "1", str(tmp)), subject=dest, what="making a still")
    return dest


def make_tone(dest: str | Path, seconds: float = 4.0, *, sample_rate: int = 48000,
              speech_like: bool = True) -> Path:
    """Audio only. ``speech_like`` gates the tone into syllables so a lip-sync has an envelope."""
    dest = Path(dest)
    samples = round(seconds * sample_rate)
    src = f"sine=frequency=220:sample_rate={sample_rate}:duration={seconds + 0.5:.3f}"
    af = f"atrim=end_sample={samples}"
    if speech_like:
        af = "volume='0.2+0.8*gt(sin(2*PI*3*t)\\,0.2)':eval=frame," + af
    with atomic_output(dest) as tmp:
        codec = ["-c:a", "pcm_s16le"] if dest.suffix.lower() == ".wav" else ["-c:a", "aac"]
        run(ffmpeg_args("-f", "lavfi", "-i", src, "-af", af, *codec, str(tmp)),
            subject=dest, what="making a tone")
    return dest


def read_barcodes(path: str | Path) -> list[int]:
    """The frame number every frame of ``path`` shows (see :func:`barcode_filters`).

    Streams tiny grey strips from ffmpeg, so a long clip costs no memory.
    """
    cell = 8
    width = BARCODE_BITS * cell
    args = [ffmpeg_bin(), "-v", "error", "-i", str(path), "-map", "0:v:0",
            "-vf", f"crop=iw:ih/10:0:0,scale={width}:4:flags=area,format=gray",
            "-f", "rawvideo", "-"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    numbers: list[int] = []
    frame_bytes = width * 4
    while True:
        buf = proc.stdout.read(frame_bytes)
        if len(buf) < frame_bytes:
            break
        row = buf[width * 2: width * 3]
        value = 0
        for bit in range(BARCODE_BITS):
            if row[bit * cell + cell // 2] > 127:
                value |= 1 << bit
        numbers.append(value)
    proc.wait()
    return numbers


def read_ramp_start(path: str | Path, samples: int = 8) -> list[int]:
    """Sample indices (mod :data:`RAMP`) of the first ``samples`` samples of a ramp track."""
    raw = subprocess.run([ffmpeg_bin(), "-v", "error", "-i", str(path), "-map", "0:a:0",
                          "-af", "pan=mono|c0=c0", "-f", "s16le", "-acodec", "pcm_s16le", "-"],
                         capture_output=True, check=True).stdout[: samples * 2]
    values = [int.from_bytes(raw[i:i + 2], "little", signed=True)
              for i in range(0, len(raw), 2)]
    return [round(v / 32768 / 0.9 * RAMP) % RAMP for v in values]


def demo_footage(folder: str | Path, *, rate: str = "25", width: int = 960, height: int = 540,
                 seconds: int = 6) -> list[Path]:
    """Three labelled camera clips for ``kling-bridge demo`` (existing files are kept).

    Different pictures (bars, a fractal zoom, a drifting gradient) so a look and a cut are
    easy to see; each has sound and its own timecode, like camera originals.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    frames = round(seconds * parse_rate(rate))
    clips = [("A001_C001 bars.mov", "testsrc2", "Clip 1", "01:00:00:00", 440),
             ("A001_C002 fractal.mov", "mandelbrot", "Clip 2", "01:10:00:00", 330),
             ("A001_C003 sky.mov", "gradients", "Clip 3", "01:20:00:00", 550)]
    paths = []
    for name, pattern, label, tc, hz in clips:
        dest = out / name
        if not dest.exists():
            make_clip(dest, SynthSpec(width=width, height=height, rate=rate, frames=frames,
                                      pattern=pattern, label=label, timecode=tc, tone_hz=hz,
                                      preset="ultrafast", crf=20))
        paths.append(dest)
    return paths
