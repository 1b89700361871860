"""The HTML page's old import path, kept for importers outside ``compare`` (``backend/demo/report.py``).

New code imports :func:`taskbridge.compare.rendering.html.render_html`.
"""

from .rendering.html import render_html

__all__ = ["render_html"]
