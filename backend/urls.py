from django.contrib import admin
from django.urls import include, path

from taskbridge import metrics

from . import operator_access

urlpatterns = [
    path("admin/", admin.site.urls),
    # Prometheus scrape: staff or TASKBRIDGE['METRICS_TOKEN'] (docs/operations.md).
    path("metrics", metrics.view, name="taskbridge-metrics"),
    # django-rq's dashboard: staff with the django_rq.admin permission only (backend/operator_access.py).
    path("django-rq/", include((operator_access.urlpatterns, "django_rq"))),
    # Session login for API clients (docs/domain.md).
    path("api/auth/", include("notebooks.auth_urls")),
    # The reference workload's JSON API (session auth; see docs/domain.md).
    path("api/notebooks/", include("notebooks.urls")),
    path("api/podcasts/", include("podcast.urls")),
    path("api/reports/", include("reports.urls")),
]

# Unknown /api/ paths answer JSON like the rest of the API.
handler404 = "notebooks.api.not_found"
