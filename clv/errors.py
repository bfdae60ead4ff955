"""The errors `clv` raises: one base class, and a subclass per thing the caller must change."""

from __future__ import annotations


class CLVError(Exception):
    """Base class of every error raised by the `clv` package."""


class InvalidDataError(CLVError, ValueError):
    """Customer data that no model can describe: negative times, recency after age, NaN, ..."""


class InsufficientDataError(CLVError, ValueError):
    """Valid data with too little information to estimate a model (e.g. no repeat buyers)."""


class TimeUnitError(CLVError, ValueError):
    """An unknown time unit, or a computation that mixes units."""


class ModelError(CLVError, ValueError):
    """Parameters for which a requested quantity does not exist (e.g. a mean with q <= 1)."""
