"""Report assets: pictures of the analytics, as files and in Dagster's metadata."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.
import dagster as dg

from orchestration import environment
from orchestration.resources import WarehouseResource
from reports.charts import ltv_curves, retention_heatmap
from reports.pages import data_uri, write_page


@dg.asset(
    key=["reports", "cohort_charts"],
    group_name="reports",
    deps=[["analytics", "retention_cohorts"], ["analytics", "revenue_cohorts"]],
    kinds={"python", "html"},
    owners=["team:analytics-engineering"],
)
def cohort_charts(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The cohort retention heatmap and the historical LTV curves, as PNG files and one HTML page
    under the reports folder (next to the warehouse), and inline in this asset's metadata."""
    with warehouse.connect(read_only=True) as con:
        charts = {
            "Retention on, by cohort": retention_heatmap(con),
            "Retention on or after, by cohort": retention_heatmap(con, "retention_on_or_after"),
            "Historical LTV curves": ltv_curves(con),
        }
    folder = environment.reports_path()
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for caption, png in charts.items():
        path = folder / (caption.lower().replace(",", "").replace(" ", "_") + ".png")
        path.write_bytes(png)
        files[caption] = path
    page = write_page(folder / "cohorts.html", "Recur: cohorts", charts)
    return dg.MaterializeResult(
        metadata={
            **{
                caption: dg.MetadataValue.md(f"![{caption}]({data_uri(png)})")
                for caption, png in charts.items()
            },
            "html": dg.MetadataValue.path(str(page)),
            **{f"{caption} (png)": dg.MetadataValue.path(str(p)) for caption, p in files.items()},
        }
    )
