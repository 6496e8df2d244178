"""Results a person can look at: heatmap overlays, report figures, gallery selection, the HTML report."""
