"""Reading the real editors' exports in tests/samples, and normalising their quirks."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from kling_bridge.timeline.formats import detect_format, read_timeline, read_timeline_text
from kling_bridge.timeline.rates import timeline_rate

NTSC_24 = 24000 / 1001


def _clips(timeline: otio.schema.Timeline) -> list[otio.schema.Clip]:
    return [c for t in timeline.tracks for c in t if isinstance(c, otio.schema.Clip)]


@pytest.mark.parametrize(
    ("name", "fmt", "title", "video_tracks", "clips"),
    [
        ("premiere_example.xml", "fcp_xml", "sc01_sh010_layerA", 4, 13),
        ("premiere_generators.xml", "fcp_xml", "Generators", 3, 8),
        ("hiero_xml_export.xml", "fcp_xml", "hiero_xml_export", 1, 2),
        ("fcpx_example.fcpxml", "fcpx_xml", "OpenTimeline_Project", 3, 13),
        ("fcpx_project.fcpxml", "fcpx_xml", "OpenTimeline_Project", 3, 13),
        ("resolve19_25_cuts_1h.fcpxml", "fcpx_xml", "Timeline 1 (Resolve)", 1, 173),
        ("avid_example.edl", "cmx_3600", "Avid_Example.01", 1, 2),
        ("premiere_example.edl", "cmx_3600", "Premiere_Example.01", 1, 2),
        ("nucoda_example.edl", "cmx_3600", "Nucoda_Example.01", 1, 2),
        ("25fps.edl", "cmx_3600", "SQ0002_A2", 1, 4),
        ("speed_effects.edl", "cmx_3600", "Speed_Effects_Test_2018.02.13", 1, 548),
        ("blender53_resolve_metadata.otio", "otio_json", "Scene", 2, 3),
    ],
)
def test_every_sample_reads_with_its_shape(
    samples: Path, name: str, fmt: str, title: str, video_tracks: int, clips: int
) -> None:
    result = read_timeline(samples / name)
    assert result.format == fmt
    assert result.timeline.name == title
    kinds = [t.kind for t in result.timeline.tracks]
    assert kinds.count(otio.schema.TrackKind.Video) == video_tracks
    assert len(_clips(result.timeline)) == clips
    # this machine has none of the editors' media: reported per clip, never fatal
    # (generators have no media to miss)
    assert bool(result.issues) == (name != "premiere_generators.xml")
    assert all(issue.item and issue.reason for issue in result.issues)


def test_edl_record_start_becomes_timeline_start(samples: Path) -> None:
    timeline = read_timeline(samples / "avid_example.edl").timeline
    # first event records at 00:59:53:11; the adapter hid it as a negative track offset
    assert timeline.global_start_time == otio.opentime.from_timecode("00:59:53:11", 24)
    track = timeline.tracks[0]
    assert track.source_range is None
    first, second = track[0], track[1]
    assert first.range_in_parent().start_time.value == 0
    assert second.range_in_parent().start_time.value == 31
    # OTIO's own range maths works again (it refused the negative offset)
    assert first.transformed_time_range(first.trimmed_range(), timeline.tracks).duration.value == 31


def test_edl_rate_is_worked_out_from_timecodes(samples: Path) -> None:
    result = read_timeline(samples / "25fps.edl")
    assert timeline_rate(result.timeline) == 25
    assert any("25" in note for note in result.notes)
    assert read_timeline(samples / "25fps.edl", rate=25).notes == []


def test_speed_effects_edl_keeps_m2_retimes(samples: Path) -> None:
    timeline = read_timeline(samples / "speed_effects.edl").timeline
    warps = [c for c in _clips(timeline)
             if any(isinstance(e, otio.schema.LinearTimeWarp) for e in c.effects)]
    speeds = {c.name: c.effects[0].time_scalar for c in warps}
    assert speeds["Z682_156 (LAY3)"] == 0  # M2 000.0: a freeze
    assert speeds["Z694_54 (LAY5) (48.00 FPS)"] == 2.0


def test_ntsc_rates_snapped_exactly(samples: Path) -> None:
    timeline = read_timeline(samples / "premiere_generators.xml").timeline
    rates = {c.source_range.duration.rate for c in _clips(timeline)}
    assert rates == {NTSC_24}
    assert timeline.global_start_time.rate == NTSC_24
    # frame numbers unchanged by the snap
    assert [c.source_range.duration.value for c in _clips(timeline)][:2] == [264, 119]


def test_odd_rates_are_not_snapped(samples: Path) -> None:
    """Premiere's 15 fps clip (a 30 fps file) must not become 23.976."""
    timeline = read_timeline(samples / "premiere_example.xml").timeline
    first = next(c for c in _clips(timeline) if c.source_range.duration.rate == 15)
    assert first.source_range.duration.value == 50


def test_fcpx_library_with_two_projects_takes_first_and_says_so(samples: Path) -> None:
    result = read_timeline(samples / "fcpx_example.fcpxml")
    assert result.timeline.name == "OpenTimeline_Project"
    assert any("OpenTimeline_Project 1" in note for note in result.notes)


def test_fcpx_compound_clip_is_a_nested_stack(samples: Path) -> None:
    timeline = read_timeline(samples / "fcpx_project.fcpxml").timeline
    stacks = [i for t in timeline.tracks for i in t if isinstance(i, otio.schema.Stack)]
    assert [s.name for s in stacks][:1] == ["compound_clip_1"]


def test_resolve_shaped_otio(samples: Path) -> None:
    result = read_timeline(samples / "blender53_resolve_metadata.otio")
    timeline = result.timeline
    assert "Resolve_OTIO" in timeline.metadata
    clip = _clips(timeline)[0]
    assert clip.active_media_reference_key == "DEFAULT_MEDIA"
    assert clip.media_reference.target_url == "/Volumes/Media/bridge_sample/src_24fps.mp4"
    assert any("Resolve" in note for note in result.notes)


def test_hiero_sequence_timecode_start(samples: Path) -> None:
    timeline = read_timeline(samples / "hiero_xml_export.xml").timeline
    assert otio.opentime.to_timecode(timeline.global_start_time) == "01:00:00:00"


def test_format_detected_by_content_when_extension_lies(samples: Path, tmp_path: Path) -> None:
    disguised = tmp_path / "cut.xml"
    disguised.write_bytes((samples / "fcpx_project.fcpxml").read_bytes())
    assert detect_format(disguised) == "fcpx_xml"
    nameless = tmp_path / "cut.timeline"
    nameless.write_bytes((samples / "avid_example.edl").read_bytes())
    assert detect_format(nameless) == "cmx_3600"
    assert read_timeline(nameless).timeline.name == "Avid_Example.01"


def test_fcpxmld_bundle_folder(samples: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "Project.fcpxmld"
    bundle.mkdir()
    (bundle / "Info.fcpxml").write_bytes((samples / "fcpx_project.fcpxml").read_bytes())
    result = read_timeline(bundle)
    assert result.format == "fcpx_xml"
    assert len(_clips(result.timeline)) == 13


def test_read_from_text_like_an_api_body(samples: Path) -> None:
    text = (samples / "blender53_resolve_metadata.otio").read_text()
    result = read_timeline_text(text)
    assert result.path is None and result.format == "otio_json"
    edl = read_timeline_text((samples / "avid_example.edl").read_text(), "edl")
    assert edl.timeline.global_start_time.value == 86243


def test_samples_are_left_untouched(samples: Path) -> None:
    def contents() -> dict[str, bytes]:  # bundles (.fcpxmld) are folders
        return {str(p): p.read_bytes() for p in samples.rglob("*") if p.is_file()}

    before = contents()
    for path in samples.iterdir():
        if path.suffix != ".md":
            read_timeline(path)
    assert before == contents()
