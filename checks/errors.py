"""Errors raised by the quality library; each message says what to change."""

from __future__ import annotations


class CheckError(Exception):
    """Base class for every error raised by :mod:`checks`."""


class ThresholdError(CheckError):
    """A ``RECUR_CHECK_*`` setting cannot be read."""


class SuiteError(CheckError):
    """A suite could not be evaluated (its table or a column is missing): a bug or an unbuilt
    table, not bad data."""
