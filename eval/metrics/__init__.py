"""Metric functions: plain functions on numpy arrays and strings, one per metric, sources in docstrings."""
