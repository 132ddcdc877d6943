"""Making a local file reachable by URL: S3-compatible presigned links or signed daemon links.

See the package docstring of kling_bridge for the layering.
"""

from .base import HostingError, MediaHost
from .factory import build_media_host
from .s3 import S3Host
from .signed import SignedLinkHost

__all__ = ["HostingError", "MediaHost", "S3Host", "SignedLinkHost", "build_media_host"]
