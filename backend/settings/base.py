"""Settings shared by every environment. Anything secret or host-specific comes from the environment."""

from pathlib import Path

from taskbridge.backends.rq.config import rq_queues

from .env import DEVELOPMENT_SECRET_KEY, database_from_url, env_bool, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "waffle",
    "django_rq",
    "taskbridge",
    "notebooks",
    "podcast",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "taskbridge.middleware.CorrelationIdMiddleware",
    "taskbridge.middleware.FlagActorMiddleware",
    "waffle.middleware.WaffleMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
LOGIN_URL = "/admin/login/"
# A refused CSRF token is a JSON 403 under /api/ (Django's page elsewhere).
CSRF_FAILURE_VIEW = "notebooks.api.csrf_failure"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

# Waffle reads flags through this cache; it must be shared by every process
# (web and workers) so that a flip in admin reaches all of them.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "backend",
    }
}
WAFFLE_CACHE_NAME = "default"
WAFFLE_CREATE_MISSING_FLAGS = False

# The one place the queues and their timeouts are declared. django-rq's
# RQ_QUEUES below and Celery's queues, routes and time limits
# (taskbridge.backends.celery.config.configure) are derived from it.
# BASELINE is the backend this project migrates from, CANDIDATE the one it moves
# to; a queue's waffle flag sends its dispatches to one or the other.
TASKBRIDGE = {
    "QUEUES": {
        "default": {"timeout": 3600},
        "notebook_processing": {"timeout": 3600},
        "podcast": {"timeout": 3600},
        "reports": {"timeout": 3600},
        "validation": {"timeout": 3600},
        "maintenance": {"timeout": 86400},
    },
    "BACKENDS": {
        "celery": {"BACKEND": "taskbridge.backends.celery.backend.CeleryBackend"},
        "rq": {"BACKEND": "taskbridge.backends.rq.backend.RQBackend"},
    },
    "BASELINE": "celery",
    "CANDIDATE": "rq",
    "REDIS_URL": REDIS_URL,
    "EVENT_LOG": env_str("TASKBRIDGE_EVENT_LOG", "") or None,
    # A Prometheus server scrapes /metrics with this bearer token (unset: staff logins only).
    "METRICS_TOKEN": env_str("TASKBRIDGE_METRICS_TOKEN", "") or None,
    # `manage.py taskbridge demo`: the staged cutover of this project's workload.
    "COMMANDS": {"demo": "backend.demo.command"},
    "SCHEDULE": {
        "cleanup-old-podcast-jobs": {
            "task": "podcast.tasks.cleanup_old_podcast_jobs",
            "every": 86400,
        },
        "cleanup-old-reports": {
            "task": "reports.tasks.cleanup_old_reports",
            "every": 86400,
        },
    },
}

RQ_QUEUES = rq_queues(TASKBRIDGE["QUEUES"], REDIS_URL)
# django-rq's copy of its dashboard under /admin/ checks staff status only; the project
# serves it at /django-rq/ behind a permission instead (backend/operator_access.py).
RQ_SHOW_ADMIN_LINK = False
RQ = {
    # One explicit behaviour on both backends: enqueue() sends now,
    # enqueue_on_commit() waits for the transaction (taskbridge.dispatch).
    "COMMIT_MODE": "auto",
    "JOB_CLASS": "taskbridge.backends.rq.worker.TaskbridgeJob",
    "WORKER_CLASS": "taskbridge.backends.rq.worker.TaskbridgeWorker",
    # rq-scheduler with JSON jobs (stock rq-scheduler uses RQ's default, non-JSON serializer); see docs/periodic.md.
    "SCHEDULER_CLASS": "taskbridge.backends.rq.periodic.TaskbridgeScheduler",
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
