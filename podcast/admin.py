from django.contrib import admin

from .models import PodcastJob


@admin.register(PodcastJob)
class PodcastJobAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "notebook", "status", "progress", "segments", "created_at", "completed_at")
    list_filter = ("status",)
    search_fields = ("title", "user__username", "task_handle")
    readonly_fields = ("task_handle", "created_at", "updated_at", "started_at", "completed_at")
