"""OpenTimelineIO plugin for kling-bridge result timelines.

OTIO finds this package through the ``opentimelineio.plugins`` entry point and reads the
``plugin_manifest.json`` beside this file. Kept free of the daemon's heavy modules so every
OTIO tool (otioconvert, otiocat, a host's own Python) can load it cheaply.
"""
