from django.contrib import admin

from .models import RouteChange


@admin.register(RouteChange)
class RouteChangeAdmin(admin.ModelAdmin):
    list_display = ("changed_at", "flag", "from_route", "to_route", "changed_by")
    list_filter = ("queue", "to_route")
    search_fields = ("flag", "queue", "task")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
