from django.urls import path

from . import views

app_name = "notebooks"

urlpatterns = [
    path("", views.notebooks, name="notebooks"),
    path("<int:notebook_id>/", views.notebook_detail, name="notebook"),
    path("<int:notebook_id>/sources/url/", views.add_url, name="add-url"),
    path("<int:notebook_id>/sources/batch/", views.add_batch, name="add-batch"),
    path("<int:notebook_id>/sources/file/", views.add_file, name="add-file"),
    path("<int:notebook_id>/sources/<int:item_id>/", views.source_detail, name="source"),
    path("<int:notebook_id>/batches/<int:batch_id>/", views.batch_detail, name="batch"),
]
