"""Final Cut Pro XML (FCPXML 1.8 to 1.14, ``.fcpxml`` files and ``.fcpxmld`` bundles), read
and written by the bridge itself.

- :func:`read_fcpxml` -- the editor's document as the OTIO timeline the selection logic
  reads (:mod:`.read`, built on :mod:`.layout` and :mod:`.document`), with the parsed
  document and layout; :func:`read_fcpxml_timeline` the timeline and notes alone;
- :func:`splice_fcpxml` -- results put back into the editor's own document, every original
  byte kept (:mod:`.splice`, writing through :mod:`.text`).

Why not the OTIO FCPXML adapter: it cannot find media in FCPXML 1.9+ (``media-rep``),
places connected storylines without their parent's ``start``, reads inactive audition picks
as clips, turns 30p into 29.97 and 23.976 into 25, restyles retimed clips at 1x, and its
writer drops what it does not model (transitions, retimes, drop-frame, roles, the library).
"""

from kling_bridge.timeline.fcpxml.read import FcpxmlRead, read_fcpxml, read_fcpxml_timeline
from kling_bridge.timeline.fcpxml.splice import splice_fcpxml

__all__ = ["FcpxmlRead", "read_fcpxml", "read_fcpxml_timeline", "splice_fcpxml"]
