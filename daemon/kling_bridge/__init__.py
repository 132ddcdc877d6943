"""kling-bridge: Kling's video models (O3 restyle, 3.0 generation) from an editor's timeline.

The daemon package. Layers, top to bottom (each imports only those below it):
cli -> api, watch -> jobs -> providers, hosting -> media, timeline -> config, credentials.
"""

__version__ = "0.1.0"
