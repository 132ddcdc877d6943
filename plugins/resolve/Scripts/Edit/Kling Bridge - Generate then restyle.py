"""B-roll at kling: markers or the playhead, restyled in your look before it lands.

Workspace > Scripts > Edit > Kling Bridge - Generate then restyle.
Kling Bridge for DaVinci Resolve (README: "DaVinci Resolve"): this finds the plugin
library and hands it Resolve's globals.
"""
import os
import sys

_here = os.path.dirname(os.path.abspath(globals().get("__file__") or "."))
_data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
for _lib in (os.environ.get("KLING_BRIDGE_RESOLVE_LIB", ""), os.path.join(_here, "..", ".."),
             os.path.join(os.environ.get("LOCALAPPDATA", "~"), "kling-bridge", "resolve"),
             os.path.expanduser("~/Library/Application Support/kling-bridge/resolve"),
             os.path.join(_data, "kling-bridge", "resolve")):
    if _lib and os.path.isdir(os.path.join(_lib, "kling_bridge_resolve")):
        sys.path.insert(0, os.path.abspath(_lib))
        break

try:
    import kling_bridge_resolve
except ImportError:
    print("Kling Bridge: the plugin library is missing. Copy the folder kling_bridge_resolve to "
          "the kling-bridge data folder's 'resolve' folder (README: DaVinci Resolve) or set "
          "KLING_BRIDGE_RESOLVE_LIB to the folder that holds it.")
    raise SystemExit(1) from None

kling_bridge_resolve.run("generate-restyle", globals())
