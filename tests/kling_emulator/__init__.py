"""A local stand-in for Kling's API (see app.py); tests and the CLI's e2e runs use it."""

from .app import KlingEmulator
from .state import Account, Fault, KlingError

__all__ = ["Account", "Fault", "KlingEmulator", "KlingError"]
