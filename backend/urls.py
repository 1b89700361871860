from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # django-rq's dashboard: every view is staff_member_required.
    path("django-rq/", include("django_rq.urls")),
]
