"""Data-quality suites: great-expectations expectations on frames read from the warehouse.

Each :class:`Suite` is about one table, has a severity (``blocking`` suites stop the syncs
downstream when they fail, ``warning`` suites only report) and reads its numbers from one
:class:`Thresholds`. :func:`run_suite` returns a :class:`CheckOutcome` with the failing rows.
No Dagster here (``orchestration/defs/quality/`` wires the suites as asset checks), and
great_expectations is imported only when a suite runs.

>>> from pathlib import Path
>>> suites = warehouse_suites(Thresholds())
>>> sorted({".".join(s.asset) for s in suites})[:3]
['analytics.churn_risk', 'analytics.customer_ltv', 'analytics.ltv_model_params']
"""

from __future__ import annotations

from checks.audiences import Audience, audience_suites, audiences_from_manifest
from checks.errors import CheckError, SuiteError, ThresholdError
from checks.marts import analytics_suites, core_suites
from checks.raw import raw_suites
from checks.suite import (
    CheckOutcome,
    Expect,
    ExpectationOutcome,
    Sources,
    Suite,
    run_suite,
    validate,
)
from checks.thresholds import Thresholds


def warehouse_suites(t: Thresholds) -> list[Suite]:
    """The suites on the raw events and the core and analytics marts."""
    return raw_suites(t) + core_suites(t) + analytics_suites(t)


__all__ = [
    "Audience",
    "CheckError",
    "CheckOutcome",
    "Expect",
    "ExpectationOutcome",
    "Sources",
    "Suite",
    "SuiteError",
    "ThresholdError",
    "Thresholds",
    "analytics_suites",
    "audience_suites",
    "audiences_from_manifest",
    "core_suites",
    "raw_suites",
    "run_suite",
    "validate",
    "warehouse_suites",
]
