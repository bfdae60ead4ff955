"""Automation: the daily schedules, the automation-condition sensor and run-failure alerts."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.automation.schedules import daily_schedules
from orchestration.defs.automation.sensors import alert_on_run_failure, automation

defs = dg.Definitions(schedules=daily_schedules, sensors=[automation, alert_on_run_failure])
