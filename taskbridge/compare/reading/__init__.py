"""Stage one of ``compare``: event lines (files, streams, memory) or event dicts in, one :class:`Partial` out.

Nothing here judges: it counts, joins events by job id and keeps the numbers
the judging stage needs, in a form small enough for a million events.
"""
