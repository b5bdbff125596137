"""Looking at a search: the HTML report (``nascompile report``) and the TensorBoard export.

This package reads a study (``nascompiler.search``) and never changes it; nothing in the
search imports it, so the search runs without plotly or tensorboard installed.
"""

from .html import ReportUnavailable, build_report, default_report_path, write_report

__all__ = ["ReportUnavailable", "build_report", "default_report_path", "write_report"]
