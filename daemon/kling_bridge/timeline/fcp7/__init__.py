"""FCP 7 XML (xmeml: Premiere Pro, DaVinci Resolve, Final Cut Pro 7): results spliced into
the editor's own document (:mod:`.splice`), positions found by :mod:`.scan`."""

from kling_bridge.timeline.fcp7.splice import declared_encoding, splice_xmeml

__all__ = ["declared_encoding", "splice_xmeml"]
