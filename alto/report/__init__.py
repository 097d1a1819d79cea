"""Tables and figures of the report: the paper comparison, qualitative rows, metric bars,
runtime against IoU and training curves (used by the workflow's report rules)."""
