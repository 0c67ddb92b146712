"""Typed domain errors. Mapped to HTTP in exactly one place: tpm.api.errors.

Messages are fixed, human sentences; `details` carries field paths, versions or limits —
never a submitted value (it may be PHI).
"""

from __future__ import annotations

from typing import Any


class TpmError(Exception):
    code = "error"
    message = "The request failed."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details: dict[str, Any] = details


class BadRequest(TpmError):
    code = "bad_request"
    message = "The request is malformed."


class MalformedJson(BadRequest):
    code = "malformed_json"
    message = "The request body is not valid JSON."


class Unauthenticated(TpmError):
    code = "unauthenticated"
    message = "Authentication is required."


class Reauthenticate(Unauthenticated):
    code = "reauthenticate"
    message = "This action needs a recent sign-in with multi-factor authentication."


class Forbidden(TpmError):
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(TpmError):
    code = "not_found"
    message = "The resource does not exist."


class MethodNotAllowed(TpmError):
    code = "method_not_allowed"
    message = "This method is not allowed on this resource."


class Conflict(TpmError):
    code = "conflict"
    message = "The request conflicts with the current state."


class VersionConflict(Conflict):
    code = "version_conflict"
    message = "The resource changed since you loaded it."


class LastOwner(Conflict):
    code = "last_owner"
    message = "A practice keeps at least one active owner: make another owner first."


class AlreadyExists(Conflict):
    code = "already_exists"
    message = "The resource already exists."


class PayloadTooLarge(TpmError):
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(TpmError):
    code = "unsupported_media_type"
    message = "The request body must be application/json."


class ValidationFailed(TpmError):
    code = "validation_failed"
    message = "The request has invalid fields."


class PreconditionRequired(TpmError):
    code = "precondition_required"
    message = "This update needs the resource's current version."


class RateLimited(TpmError):
    code = "rate_limited"
    message = "Too many requests; try again later."


class DependencyUnavailable(TpmError):
    code = "dependency_unavailable"
    message = "A service the request needs is unavailable; try again."


class AuditUnavailable(DependencyUnavailable):
    """The audit chain failed its check before an append or a checkpoint: nothing is
    written (no change can be made without its audit event) until it is investigated."""

    code = "audit_unavailable"
    message = "The audit trail failed its integrity check; changes are paused."


class IntegrityError(TpmError):
    """Stored data failed an integrity check (tampered ciphertext, broken audit chain)."""

    code = "integrity_error"
    message = "Stored data failed an integrity check."
