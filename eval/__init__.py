"""xforge evaluation: metrics (``eval.metrics``), per-image scoring, tables, reports and robustness runs.

Entry points: ``eval.runner.evaluate`` (library) and ``xforge eval`` (CLI, ``xforge/cli/evaluate.py``).
Training-time validation imports the plain numpy functions of ``eval.metrics.localization`` and
``eval.metrics.detection``.
"""
