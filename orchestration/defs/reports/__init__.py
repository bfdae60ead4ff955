"""Reports: the retention report, made from the analytics marts and the sync outcomes."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.reports.assets import build_report_asset

defs = dg.Definitions(assets=[build_report_asset()])
