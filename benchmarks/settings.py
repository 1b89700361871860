"""Settings for the drain benchmark's workers: the dev settings, with the benchmark's tasks
found by both workers' autodiscovery (``benchmarks`` as an installed app)."""

from backend.settings.dev import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "benchmarks"]  # noqa: F405

# drain.py --celery-setting NAME=VALUE: Celery settings for the taskbridge worker only (JSON
# values), to measure what one of taskbridge's Celery defaults costs.
import json as _json  # noqa: E402
import os as _os  # noqa: E402

for _name, _value in _json.loads(_os.environ.get("TASKBRIDGE_BENCH_CELERY", "{}")).items():
    globals()[f"CELERY_{_name.upper()}"] = _value
