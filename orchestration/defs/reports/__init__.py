"""Reports: pictures and pages made from the analytics marts."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.reports.assets import cohort_charts

defs = dg.Definitions(assets=[cohort_charts])
