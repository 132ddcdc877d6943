"""``python -m kling_bridge``: the command line, as the installed service starts it."""

import sys

from .cli import main

sys.exit(main())
