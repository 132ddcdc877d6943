"""Copy the daemon's stdlib client into the Resolve plugin.

Usage: ``python plugins/resolve/sync_client.py`` (``--check`` only compares).

The plugin runs inside Resolve's Python, where ``kling_bridge`` is not installed, so it
ships its own copy of ``daemon/kling_bridge/client.py``. Run this after changing that file;
``--check`` exits 1 when the copy differs (the test suite runs the same comparison).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "..", "daemon", "kling_bridge", "client.py")
TARGET = os.path.join(HERE, "kling_bridge_resolve", "client.py")
HEADER = ("# Copied from daemon/kling_bridge/client.py by plugins/resolve/sync_client.py:\n"
          "# edit that file, then run the script.\n")


def expected():
    # type: () -> str
    with open(SOURCE, encoding="utf-8") as fh:
        return HEADER + fh.read()


def current():
    # type: () -> str
    try:
        with open(TARGET, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return ""


def main(argv):
    # type: (list) -> int
    if "--check" in argv:
        if current() != expected():
            print("plugins/resolve/kling_bridge_resolve/client.py differs from "
                  "daemon/kling_bridge/client.py: run python plugins/resolve/sync_client.py")
            return 1
        return 0
    temp = TARGET + ".tmp"
    with open(temp, "w", encoding="utf-8") as fh:
        fh.write(expected())
    os.replace(temp, TARGET)
    print("copied client.py into " + TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
