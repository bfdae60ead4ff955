"""Errors raised by the ingestion library.

Every message names the file, day or setting involved and says what to change.
"""

from __future__ import annotations


class SourceError(Exception):
    """Base class for every error raised by :mod:`sources`."""


class ExportsFolderError(SourceError):
    """The export folder is missing or does not have the expected layout."""


class UnreadableFileError(SourceError):
    """An export file cannot be read at all (not gzip, not a zip, not JSON, unreadable)."""


class InflationLimitError(UnreadableFileError):
    """A compressed export inflates beyond ``RECUR_MAX_INFLATED_BYTES`` or
    ``RECUR_MAX_INFLATION_RATIO`` (a compression bomb, or a file larger than allowed)."""


class ExportAPIError(SourceError):
    """A vendor Export API answered with an error that retrying will not fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(ExportAPIError):
    """The API refused the credentials (HTTP 401/403)."""


class IncompleteExportError(ExportAPIError):
    """The export stream was cut short (Mixpanel's ``terminated early`` line) and retries ran out."""


class RateLimitedError(ExportAPIError):
    """The API kept answering HTTP 429 (or asked for too long a wait) until retries ran out."""


class SettingError(SourceError, ValueError):
    """An ingestion setting (``RECUR_EARLIEST_EVENT``, ``RECUR_MIXPANEL_TIMEZONE``, the inflation
    limits) is invalid."""
