"""OTIO hook script (pre_adapter_write): see kling_bridge_otio.hooks."""

from kling_bridge_otio.hooks import pre_adapter_write


def hook_function(in_timeline, argument_map=None):  # type: ignore[no-untyped-def]
    return pre_adapter_write(in_timeline, argument_map)
