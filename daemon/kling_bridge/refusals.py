"""A refusal people can act on: what was wrong (``code``, ``message``), what to do
(``hint``), and the HTTP status the API answers it with.

The job engine (``EngineError``) and the character register (``ElementError``) refuse work
this way; the API turns any of them into its JSON error with one function
(``api.routes_jobs.engine_error``), so every refusal reads the same to a client.
"""

from __future__ import annotations


class Refusal(Exception):
    def __init__(self, code: str, message: str, hint: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.status = status
