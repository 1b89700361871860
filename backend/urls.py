from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # django-rq's dashboard: every view is staff_member_required.
    path("django-rq/", include("django_rq.urls")),
    # The reference workload's JSON API (session auth; see docs/domain.md).
    path("api/notebooks/", include("notebooks.urls")),
    path("api/podcasts/", include("podcast.urls")),
    path("api/reports/", include("reports.urls")),
]

# Unknown /api/ paths answer JSON like the rest of the API.
handler404 = "notebooks.api.not_found"
