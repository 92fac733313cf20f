"""``evals report``: one self-contained HTML file from run directories.

``build_report`` reads the runs into a typed view-model (``model.py``), ``render_html``
lays it out with the jinja2 templates in ``reports/`` and the figures of ``figures.py``,
``write_report`` does both and writes the file.
"""

from evals.results.report.model import ExtraSection, Report, build_report
from evals.results.report.render import render_html, write_report

__all__ = ["ExtraSection", "Report", "build_report", "render_html", "write_report"]
