"""The cyclic garbage collector paused while a large timeline is built.

Reading a 5,000-clip project or building the new tracks for 5,000 results allocates hundreds
of thousands of small objects (dictionaries, lists, elements) that all live on until the
build is done and hold no reference cycles. The collector would rescan them again and again
as they pile up -- half the read time of a 5,000-clip FCPXML project; on
``bench/timeline.py`` a full (oldest generation) collection of ~25 ms fell inside the new
tracks' build -- and finds nothing to free. Reference counting still frees everything the
moment it is dropped; the collector runs again as usual afterwards.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """No cyclic collection inside the block (the collector's previous state restored)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
