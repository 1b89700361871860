"""The Celery app. Its queues, routes and time limits come from TASKBRIDGE['QUEUES']."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.prod")

app = Celery("backend")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from taskbridge.backends.celery.config import configure  # noqa: E402

configure(app)
