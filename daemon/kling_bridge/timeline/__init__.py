"""See the package docstring of kling_bridge for the layering."""
