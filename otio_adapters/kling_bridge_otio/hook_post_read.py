"""OTIO hook script (post_adapter_read): see kling_bridge_otio.hooks."""

from kling_bridge_otio.hooks import post_adapter_read


def hook_function(in_timeline, argument_map=None):  # type: ignore[no-untyped-def]
    return post_adapter_read(in_timeline, argument_map)
