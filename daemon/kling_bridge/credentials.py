"""Kling credentials: an API key, or an access key + secret key pair.

The credential's type picks the API standard (a key -> the new standard; AK/SK -> the
legacy ``/v1`` tree with a JWT), so the user never has to know there are two.
The secret never leaves this object except into an ``Authorization`` header: ``repr`` and
``str`` are redacted so it cannot slip into a log line or an error message by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class KlingCredential:
    api_key: str | None = field(default=None, repr=False)
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    source: str = "none"  # "environment" | "keyring" | "file" | "none"

    @property
    def kind(self) -> str:
        if self.api_key:
            return "api_key"
        if self.access_key and self.secret_key:
            return "access_key"
        return "none"

    @property
    def standard(self) -> str:
        """``new`` for an API key, ``legacy`` for AK/SK (new-standard paths refuse JWTs)."""
        return "legacy" if self.kind == "access_key" else "new"

    @property
    def configured(self) -> bool:
        return self.kind != "none"

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for redaction filters."""
        return tuple(s for s in (self.api_key, self.secret_key) if s)

    def __str__(self) -> str:
        return f"<Kling {self.kind} from {self.source}>"
