"""The raw baseline of the drain benchmark: plain functions and a plain Celery app, no taskbridge.

``raw_celery_app`` is the project's Celery app as it was before taskbridge
(``backend/celery.py`` without ``configure(app)``): Celery's own defaults, the
same broker and result backend. ``add`` is what stock RQ runs: a module-level
function named by its dotted path.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

app = Celery("raw")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_default_queue = "default"


def add(x: int, y: int) -> int:
    return x + y


@app.task(name="benchmarks.raw.celery_add")
def celery_add(x: int, y: int) -> int:
    return x + y
