"""Errors raised by the reverse-ETL library.

Two families: configuration problems found before anything is sent (:class:`SyncConfigError`),
and what a destination answers while sending. The engine reacts to each destination error in one
way: :class:`RetryableError` waits and tries the same batch again, :class:`BatchRejected` splits
the batch until the bad row is alone, and :class:`FatalError` stops the run and leaves every row
that was not confirmed dirty for the next run.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class for every error raised by :mod:`syncs`."""


class SyncConfigError(SyncError):
    """A sync declaration or its audience is wrong; the message says what to change."""


class NotConfigured(SyncError):  # noqa: N818 - a state, not a failure
    """The destination has no credentials in the environment; the sync is skipped."""


class DestinationError(SyncError):
    """An answer from a destination, with its HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableError(DestinationError):
    """Try the same request again after ``wait`` seconds (429, 423, 5xx, time-outs)."""

    def __init__(self, message: str, status: int | None = None, wait: float = 0.0) -> None:
        super().__init__(message, status)
        self.wait = wait


class BatchRejected(DestinationError):
    """The destination refused the whole batch because of (at least) one bad row."""


class FatalError(DestinationError):
    """Stop the run: bad credentials, a daily limit reached, an account being migrated."""


class RetriesExhausted(FatalError):
    """A batch kept failing with retryable errors; the destination looks unavailable."""
