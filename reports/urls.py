from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.reports, name="reports"),
    path("validate/", views.validate, name="validate"),
    path("<int:report_id>/", views.report_detail, name="report"),
    path("<int:report_id>/cancel/", views.cancel, name="cancel"),
    path("<int:report_id>/markdown/", views.markdown, name="markdown"),
]
