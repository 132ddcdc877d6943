"""Final Cut Pro X XML at NTSC rates: the adapter's reader and writer with exact time.

``otio-fcpx-xml-adapter`` 1.0 turns a ``frameDuration`` into ``int(1 / duration)`` frames a
second, so ``1001/24000s`` reads as 23 fps and every time is truncated with float maths; its
writer looks 23.976 and 29.97 up in a table keyed ``23.98``/``29.97`` that ``int(rate)`` never
hits and writes ``frameDuration=""``, which nothing (itself included) can read back. It also
ignores a sequence's ``tcStart`` (a timeline starting at 01:00:00:00).

Rather than fork the adapter, these subclasses replace only its time helpers with exact
:class:`fractions.Fraction` arithmetic; everything else (lanes, compound clips, assets) stays
the adapter's own code, so upgrades of the adapter still apply.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import opentimelineio as otio
from otio_fcpx_xml_adapter import fcpx_xml as _adapter

from kling_bridge.timeline.rates import exact_rate

_ROUND_FORMAT_TOKENS = {
    Fraction(24000, 1001): "2398",
    Fraction(30000, 1001): "2997",
    Fraction(60000, 1001): "5994",
    Fraction(48000, 1001): "4795",
}


def parse_fcpx_time(value: str | None) -> Fraction:
    """``"3603600/24000s"`` / ``"6s"`` / ``"0s"`` -> seconds, exactly."""
    if not value:
        return Fraction(0)
    return Fraction(value.strip().rstrip("s") or "0")


def fcpx_time(seconds: Fraction) -> str:
    """Seconds -> FCPXML rational time (``"1001/24000s"``, ``"6s"``)."""
    if seconds == 0:
        return "0s"
    if seconds.denominator == 1:
        return f"{seconds.numerator}s"
    return f"{seconds.numerator}/{seconds.denominator}s"


def frame_duration(rate: float | Fraction) -> str:
    """The ``frameDuration`` of a rate: ``24000/1001`` -> ``"1001/24000s"``."""
    return fcpx_time(1 / exact_rate(rate))


def _frames(seconds: Fraction, rate: Fraction) -> int:
    return round(seconds * rate)


class ExactFcpxXml(_adapter.FcpxXml):  # type: ignore[misc]
    """The adapter's reader with exact frame maths and ``tcStart`` support."""

    def _format_rate(self, format_id: str | None) -> Fraction:
        fd_total, fd_rate = self._format_frame_duration(format_id)
        return exact_rate(Fraction(fd_rate) / Fraction(fd_total))

    def _format_frame_rate(self, format_id: str | None) -> float:
        return float(self._format_rate(format_id))

    def _number_of_frames(self, time_value: str | None, format_id: str | None) -> int:
        if time_value in (None, "0s"):
            return 0
        return _frames(parse_fcpx_time(time_value), self._format_rate(format_id))

    def _rational(self, value: str | None, format_id: str | None) -> otio.opentime.RationalTime:
        rate = self._format_rate(format_id)
        return otio.opentime.RationalTime(_frames(parse_fcpx_time(value), rate), float(rate))

    def _time_range(self, element: Any, format_id: str | None) -> otio.opentime.TimeRange:
        return otio.opentime.TimeRange(
            start_time=self._rational(element.get("start", "0s"), format_id),
            duration=self._rational(element.get("duration"), format_id),
        )

    def _reference_from_id(self, asset_id: str, default_format: str | None) -> Any:
        asset = self._asset_by_id(asset_id)
        if not asset.get("src", ""):
            return otio.schema.MissingReference()
        fmt = asset.get("format", default_format)
        available_range = otio.opentime.TimeRange(
            start_time=self._rational(asset.get("start"), fmt),
            duration=self._rational(asset.get("duration"), fmt),
        )
        asset_clip = self._assetclip_by_ref(asset_id)
        metadata = self._create_metadta(asset_clip) if asset_clip is not None else {}
        return otio.schema.ExternalReference(
            target_url=asset.get("src"),
            available_range=available_range,
            metadata={"fcpx": metadata},
        )

    def _build_composable(self, element: Any, default_format: Any) -> Any:
        """The adapter collects markers with ``.//marker``, so a clip also gets the markers
        of every clip connected to it; only its own markers belong to it."""
        timing_clip = self._timing_clip(element)
        source_range = self._time_range(
            timing_clip, self._format_id_for_clip(element, default_format))
        if element.tag != "ref-clip":
            composable = otio.schema.Clip(
                name=timing_clip.get("name"),
                media_reference=self._reference_from_id(element.get("ref"), default_format),
                source_range=source_range,
            )
        else:
            media_element = self._compound_clip_by_id(element.get("ref"))
            composable = self._squence_to_stack(
                media_element.find("./sequence"),
                name=media_element.get("name"),
                source_range=source_range,
            )
        for marker in timing_clip.findall("./marker"):
            composable.markers.append(self._marker(marker, default_format))
        return composable

    def _from_project(self, project_element: Any) -> otio.schema.Timeline:
        timeline = super()._from_project(project_element)
        sequence = project_element.find("./sequence")
        tc_start = parse_fcpx_time(sequence.get("tcStart")) if sequence is not None else Fraction(0)
        if tc_start:
            rate = self._format_rate(sequence.get("format"))
            start = _frames(tc_start, rate)
            timeline.global_start_time = otio.opentime.RationalTime(start, float(rate))
            _trim_leading_gaps(timeline, start, rate)
        return timeline


def _trim_leading_gaps(timeline: otio.schema.Timeline, frames: int, rate: Fraction) -> None:
    """Spine offsets count from ``tcStart``; the adapter turns that into a leading gap."""
    for track in timeline.tracks:
        if len(track) and isinstance(track[0], otio.schema.Gap):
            gap = track[0]
            length = round(gap.duration().rescaled_to(float(rate)).value)
            keep = length - frames
            if keep <= 0:
                del track[0]
            else:
                gap.source_range = otio.opentime.TimeRange(
                    otio.opentime.RationalTime(0, float(rate)),
                    otio.opentime.RationalTime(keep, float(rate)),
                )


class ExactFcpxOtio(_adapter.FcpxOtio):  # type: ignore[misc]
    """The adapter's writer with exact ``frameDuration`` and rational times.

    Connected clips (every track but the first) are placed through ``_find_parent_element``
    and ``_offset_based_on_parent``, which the adapter computes with integer frame rates:
    both are redone here in exact seconds.
    """

    def _format_frame_rate(self, format_id: str | None) -> float:
        element = self.resource_element.find(f"./format[@id='{format_id}']")
        return float(exact_rate(1 / parse_fcpx_time(element.get("frameDuration"))))

    def _find_parent_element(self, spine: Any, trimmed_range: Any, format_id: Any) -> Any:
        target = Fraction(trimmed_range.value).limit_denominator(1000) / exact_rate(
            trimmed_range.rate)
        for item in spine.iter():
            if item.tag not in ("clip", "asset-clip", "gap", "ref-clip"):
                continue
            if item.get("lane") is not None:
                continue
            if item.tag == "gap" and item.find("./audio") is not None:
                continue
            offset = parse_fcpx_time(item.get("offset"))
            if offset > target:
                continue
            if offset + parse_fcpx_time(item.get("duration")) > target:
                return item
        return None

    def _offset_based_on_parent(self, child: Any, parent: Any, default_format_id: Any) -> Any:
        seconds = (parse_fcpx_time(child.get("offset")) - parse_fcpx_time(parent.get("offset"))
                   + parse_fcpx_time(parent.get("start")))
        rate = exact_rate(self._format_frame_rate(default_format_id))
        return otio.opentime.RationalTime(_frames(seconds, rate), float(rate))

    @staticmethod
    def _framerate_to_frame_duration(framerate: float) -> str:
        return frame_duration(framerate)

    @staticmethod
    def _calculate_rational_number(duration: float, rate: float) -> str:
        value = Fraction(duration).limit_denominator(1000)
        return fcpx_time(value / exact_rate(rate))

    def _clip_format_name(self, clip: Any) -> str:
        rate = exact_rate(clip.duration().rate)
        token = _ROUND_FORMAT_TOKENS.get(rate, str(round(rate)))
        if clip.schema_name() in ("Stack", "Track") or not clip.media_reference:
            return ""
        if clip.media_reference.is_missing_reference or not hasattr(
            clip.media_reference, "target_url"
        ):
            return ""
        name: str = _adapter.format_name(token, clip.media_reference.target_url)
        return name


def write_fcpx_string(
    timeline: otio.schema.Timeline, start: otio.opentime.RationalTime | None = None
) -> str:
    """FCPXML text for ``timeline`` prepared by ``writeback.prepare_for_write`` (which moved the
    start into leading gaps); ``start`` becomes the sequence's ``tcStart``."""
    text: str = ExactFcpxOtio(timeline).to_xml()
    if start is not None and start.value:
        seconds = Fraction(round(start.value)) / exact_rate(start.rate)
        # the project's own sequence (compound clips' sequences live in <resources>)
        text = re.sub(
            r"(<project\b[^>]*>\s*<sequence )",
            lambda m: f'{m.group(1)}tcStart="{fcpx_time(seconds)}" ',
            text,
            count=1,
        )
    return text


def read_fcpx_string(text: str) -> Any:
    """Timeline or SerializableCollection, as the adapter would return, with exact times."""
    return ExactFcpxXml(text).to_otio()
