"""Kling Bridge for DaVinci Resolve: restyle and generate from Workspace > Scripts.

Standard library only, Python 3.6 to 3.13 (Resolve runs the Python the machine has). The
entry scripts in ``Scripts/Edit`` and ``Scripts/Utility`` call :func:`run`; the host API
calls live in ``host``; selection, marking, placement and the dialog's logic are pure.
"""

from typing import Any, Callable, Dict, Optional  # noqa: F401 (type comments)

__version__ = "0.1.0"


def run(action, namespace=None, say=None):
    # type: (str, Optional[Dict[str, Any]], Optional[Callable[[str], None]]) -> int
    """See :func:`kling_bridge_resolve.main.run` (imported late: a broken install still
    prints which file is missing instead of failing at import)."""
    from .main import run as _run
    return _run(action, namespace, say)
