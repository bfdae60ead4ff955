"""Pictures and pages made from the warehouse: cohort heatmaps, LTV curves, the HTML report."""
