from django.urls import path

from . import views

app_name = "podcast"

urlpatterns = [
    path("", views.podcasts, name="podcasts"),
    path("<int:job_id>/", views.podcast_detail, name="podcast"),
    path("<int:job_id>/cancel/", views.cancel, name="cancel"),
    path("<int:job_id>/audio/", views.audio, name="audio"),
]
