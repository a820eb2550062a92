"""Domain errors. The web layer maps each to one HTTP status and a message a person can act on."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: ``message`` is shown to the user as is, so it must be specific and safe."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The object does not exist, or the actor may not see it (both answer 404)."""


class PermissionDenied(DomainError):
    """The actor is known but lacks the permission for this action."""


class AuthenticationFailed(DomainError):
    """Credentials were wrong, missing or expired."""


class Conflict(DomainError):
    """The action is not allowed in the record's current state (illegal transition, stale
    version)."""


class ValidationFailed(DomainError):
    """Input was invalid. ``errors`` maps a field name to what is wrong with it."""

    def __init__(self, errors: dict[str, str], message: str | None = None) -> None:
        self.errors = dict(errors)
        text = message or "; ".join(f"{field}: {problem}" for field, problem in errors.items())
        super().__init__(text)


class TooLarge(DomainError):
    """The input exceeds a configured size limit (a document's bytes, a capture's events)."""
