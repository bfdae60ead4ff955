"""Report assets: the retention report as a static HTML page, and its pictures in Dagster."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.
import dagster as dg

from orchestration import environment
from orchestration.metadata import markdown_table
from orchestration.resources import SyncResource, WarehouseResource
from reports.pages import data_uri

ANALYTICS = (
    "retention_cohorts", "revenue_cohorts", "user_rfm", "funnel_conversion", "ltv_model_params",
    "customer_ltv", "churn_risk",
)  # fmt: skip


def build_report_asset() -> dg.AssetsDefinition:
    """``reports/retention_report``, after the analytics marts. It reads the sync state file
    but does not depend on the syncs: a held or failed sync must not keep the report, which says
    why, from being written. `recur run` builds it in a run of its own after the syncs
    (orchestration/runner.py)."""

    @dg.asset(
        key=["reports", "retention_report"],
        group_name="reports",
        deps=[dg.AssetKey(["analytics", name]) for name in ANALYTICS],
        kinds={"python", "html"},
        owners=["team:analytics-engineering"],
        automation_condition=dg.AutomationCondition.eager(),
    )
    def retention_report(warehouse: WarehouseResource, sync: SyncResource) -> dg.MaterializeResult:
        """The retention report (``report.html`` in the reports folder beside the warehouse):
        headline numbers, the pooled retention curve, the cohort heatmap (``RECUR_REPORT_GRAIN``),
        LTV curves, the predicted-LTV and churn-score distributions, RFM segment sizes, funnels,
        audience sizes and the last outcome of every sync. Its pictures are also shown here."""
        # Imported here: matplotlib costs ~1.5 s, which every `recur` command would pay.
        from reports.report import SYNC_COLUMNS, write_report

        folder = environment.reports_path()
        with warehouse.connect(read_only=True) as con:
            report = write_report(
                con, sync.state_path, folder / "report.html", environment.report_grain()
            )
        for caption, png in report.charts.items():
            (folder / (caption.lower().replace(",", "").replace(" ", "_") + ".png")).write_bytes(
                png
            )
        return dg.MaterializeResult(
            metadata={
                **{
                    caption: dg.MetadataValue.md(f"![{caption}]({data_uri(png)})")
                    for caption, png in report.charts.items()
                },
                "last syncs": dg.MetadataValue.md(markdown_table(SYNC_COLUMNS, report.sync_rows)),
                "html": dg.MetadataValue.path(str(report.path)),
            }
        )

    return retention_report
