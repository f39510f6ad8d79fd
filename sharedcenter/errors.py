"""Domain errors of sharedcenter.

Every error the core raises derives from :class:`SharedCenterError`; each edge maps them to its
own protocol in exactly one place (HTTP: ``sharedcenter.api._errors``; worker: retry or give up;
CLI: message and non-zero exit).  Where a built-in fits, the error also subclasses it::

    SharedCenterError
    ├── ImproperlyConfigured (+ ValueError)      settings or region data that cannot work
    ├── InvalidInput (+ ValueError)              bad input the sender can fix (HTTP 422)
    │   ├── UnsupportedFormat                    not DICOM nor a known ECG format
    │   └── UploadTooLarge                       over the configured size limit (HTTP 413)
    ├── NotFound (+ LookupError)                 no such record, or not visible to the caller (404)
    ├── AuthenticationFailed                     wrong password or token (401)
    ├── PermissionDenied (+ PermissionError)     outside the caller's role or scope (403)
    ├── Conflict                                 the record's state forbids the action (409)
    │   ├── InvalidTransition                    study state machine refuses the move
    │   ├── ReportLocked                         a signed report version cannot change
    │   └── StudyClaimed                         another reader holds the study's reading lease
    └── StorageError (+ OSError)                 a storage back end failed
        └── StorageUnavailable (+ ConnectionError)   transient: retry later, nothing is lost
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "ImproperlyConfigured",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "PermissionDenied",
    "ReportLocked",
    "SharedCenterError",
    "StorageError",
    "StorageUnavailable",
    "StudyClaimed",
    "UnsupportedFormat",
    "UploadTooLarge",
]


class SharedCenterError(Exception):
    """Root of every error sharedcenter raises on purpose."""


class ImproperlyConfigured(SharedCenterError, ValueError):
    """Settings or region data that cannot work; raised at start-up."""


class InvalidInput(SharedCenterError, ValueError):
    """Input the sender can fix; the message says what is wrong."""


class UnsupportedFormat(InvalidInput):
    """The bytes are neither DICOM nor a known ECG format."""


class UploadTooLarge(InvalidInput):
    """The upload is larger than ``SHAREDCENTER_MAX_UPLOAD_BYTES``."""


class NotFound(SharedCenterError, LookupError):
    """No such record, or the caller may not see it (the two are not told apart)."""


class AuthenticationFailed(SharedCenterError):
    """Wrong user name, password or token."""


class PermissionDenied(SharedCenterError, PermissionError):
    """The caller's role or scope does not allow the action."""


class Conflict(SharedCenterError):
    """The record's current state forbids the action."""


class InvalidTransition(Conflict):
    """The study state machine refuses the requested move."""


class ReportLocked(Conflict):
    """A signed report version never changes; amend it with a new version instead."""


class StudyClaimed(Conflict):
    """Another reader holds the study's reading lease; it cannot be drafted, signed or claimed now."""


class StorageError(SharedCenterError, OSError):
    """A storage back end (DICOM store, object store) failed."""


class StorageUnavailable(StorageError, ConnectionError):
    """A storage back end cannot be reached now; the work is retried later."""
