"""Run a Workspace > Scripts entry script the way Resolve runs it, against the fake Resolve.

    python run_script.py STATE.json SCRIPT.py [--external] [--no-file]

Loads the fake's session from STATE.json, executes SCRIPT.py with Resolve's injected
globals (``resolve``, ``fu``, ``bmd``, ``app``) -- or, with ``--external``, with none and a
``DaVinciResolveScript`` module instead, as an outside process on Studio sees it -- then
saves the session back. ``--no-file`` leaves ``__file__`` undefined (the plugin must then
find its library through KLING_BRIDGE_RESOLVE_LIB). Any Python from 3.6 runs this.
"""

import os
import sys
import types
from typing import List  # noqa: F401

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_resolve import FakeResolveApp


def main(argv):
    # type: (List[str]) -> int
    state_path, script = argv[0], os.path.abspath(argv[1])
    app = FakeResolveApp.load(state_path)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    if "--no-file" not in argv:
        namespace["__file__"] = script
    if "--external" in argv:
        module = types.ModuleType("DaVinciResolveScript")
        # outside Resolve only Studio answers; the free edition gives None
        vars(module)["scriptapp"] = (
            lambda name: app.resolve if app.studio and name == "Resolve" else None)
        sys.modules["DaVinciResolveScript"] = module
    else:
        namespace.update(app.namespace())
    try:
        with open(script, encoding="utf-8") as fh:
            code = compile(fh.read(), script, "exec")
        exec(code, namespace)
    finally:
        app.save(state_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
