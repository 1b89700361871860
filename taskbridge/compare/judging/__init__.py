"""Stage two of ``compare``: a :class:`~taskbridge.compare.reading.reader.Partial` in, a :class:`Report` out.

Figures, stranded and duplicate jobs, and the go / hold verdict per queue.
This is the code the live guard shares with the command, so it reads no
file and no setting: names and thresholds come in as :class:`Options`.
"""
