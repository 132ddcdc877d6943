"""Per-user install of the daemon service and the host plugins (``kling-bridge install``).

Layers, top to bottom: :mod:`.command` (CLI verbs) -> :mod:`.verbs` (looks at the machine,
gathers the plan) -> the pure planners :mod:`.service`, :mod:`.resolve`, :mod:`.blender`
over a :class:`~.layout.Layout` -> :mod:`.plan` (data) and :mod:`.apply` (writes files,
runs commands, keeps :mod:`.manifest`). Lives in the package, not in the repository's
``installer/`` folder, because the installed ``kling-bridge`` command runs it; that folder
holds the bootstrap scripts for a fresh machine.
"""

from .apply import InstallError
from .layout import Layout
from .plan import COMPONENTS, Outcome, Plan
from .verbs import do_install, do_uninstall

__all__ = ["COMPONENTS", "InstallError", "Layout", "Outcome", "Plan", "do_install",
           "do_uninstall"]
