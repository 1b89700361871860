"""Stage three of ``compare``: a :class:`Report` out as terminal tables, Markdown, JSON or an HTML page."""
