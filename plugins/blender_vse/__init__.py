"""Kling Bridge for Blender's Video Sequencer: restyle strips and generate clips with Kling
through the local kling-bridge daemon.

This file only wires the pieces into Blender; ``bpy`` is imported inside ``register`` so the
pure modules (``otio_export``, ``placement``, ``records``) import anywhere for testing.
Scripting: see ``api.py`` (``import kling_bridge_vse`` once the extension is enabled).
"""

import sys

ALIAS = "kling_bridge_vse"
_state = {}


def _on_load_pre(*_args):
    from . import service

    if service.RUNTIME is not None:
        service.RUNTIME.unwatch_all()
    service._MEMORY.clear()


def _on_load_post(*_args):
    """Pick up the opened file's unfinished jobs: results made while it was closed land now.

    With a UI the worker polls and the timer applies; in background mode (no timer ever
    runs) one synchronous check applies what already finished.
    """
    import bpy

    from . import compat, host, service
    from .client import BridgeError

    if not compat.online_access()[0]:
        return  # nothing is polled without online access; the panel says how to allow it
    count = service.resume_all()
    if not count or not bpy.app.background:
        return
    for scene in host.scenes_with_record():
        try:
            service.poll_now(scene, wait=False)
        except BridgeError as exc:
            print("kling-bridge: could not check jobs on load: %s" % exc)


def _on_undo(*_args):
    from . import service

    service.restore_after_undo()


HANDLERS = (("load_pre", _on_load_pre), ("load_post", _on_load_post),
            ("undo_post", _on_undo), ("redo_post", _on_undo))


def register():
    import bpy

    from . import api, chain_operators, operators, runtime, service, ui

    for cls in ui.CLASSES + operators.CLASSES + chain_operators.CLASSES:
        bpy.utils.register_class(cls)
    for menu, fn in ui.MENUS:
        getattr(bpy.types, menu).append(fn)
    for name, fn in HANDLERS:
        handler = bpy.app.handlers.persistent(fn)
        getattr(bpy.app.handlers, name).append(handler)
    service.RUNTIME = runtime.Runtime(ui.preferences)
    sys.modules.setdefault(ALIAS, api)
    _state["registered"] = True
    # A file already open when the extension is enabled may have jobs to pick up.
    from . import compat

    if bpy.data.filepath and compat.online_access()[0]:
        service.resume_all()


def unregister():
    import bpy

    from . import chain_operators, operators, service, ui

    if service.RUNTIME is not None:
        service.RUNTIME.stop()
        service.RUNTIME = None
    for name, fn in HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        while fn in handlers:
            handlers.remove(fn)
    for menu, fn in ui.MENUS:
        getattr(bpy.types, menu).remove(fn)
    for cls in reversed(ui.CLASSES + operators.CLASSES + chain_operators.CLASSES):
        bpy.utils.unregister_class(cls)
    if sys.modules.get(ALIAS) is not None and sys.modules[ALIAS].__name__.startswith(
            __name__):
        del sys.modules[ALIAS]
    _state.clear()
