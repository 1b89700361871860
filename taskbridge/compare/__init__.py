"""Compare two task backends from their events: figures per queue, task and backend; stranded and
duplicate jobs; a go / hold verdict per queue, the *candidate* judged against the *baseline*.

``analyse(source, **options)`` reads event logs, ``judge_events(events, **options)``
judges event dicts already in memory (the live guard's window); both return a
:class:`Report`. The stages are subpackages: ``reading`` (lines or dicts to a
compact partial), ``judging`` (figures, jobs, verdicts) and ``rendering``
(terminal tables, Markdown, JSON, an HTML page). ``manage.py taskbridge
compare`` and ``python -m taskbridge.compare`` are thin layers over these.
Nothing here needs Django settings, except to default the backend names.
"""

from .entry import analyse, judge_events
from .judging.build import build_report
from .judging.report import REPORT_SCHEMA, REPORT_VERSION, Report
from .options import Options, Thresholds
from .roles import MissingRoles

__all__ = ["REPORT_SCHEMA", "REPORT_VERSION", "MissingRoles", "Options", "Report", "Thresholds", "analyse", "build_report", "judge_events"]
