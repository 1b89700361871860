from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from .cutover import STATES, snapshot
from .models import RouteChange


@admin.register(RouteChange)
class RouteChangeAdmin(admin.ModelAdmin):
    """The audit of route changes, read-only; also hosts the cutover page."""

    list_display = ("changed_at", "flag", "from_route", "to_route", "changed_by")
    list_filter = ("queue", "to_route")
    search_fields = ("flag", "queue", "task")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [path("cutover/", self.admin_site.admin_view(self.cutover_view), name="taskbridge_cutover"), *super().get_urls()]

    def cutover_view(self, request):
        view = snapshot()
        rows = []
        for queue in view.queues:
            for index, (backend, data) in enumerate(queue.backends.items()):
                rows.append({
                    "first": index == 0, "span": len(queue.backends), "queue": queue.queue, "route": queue.route,
                    "backend": backend, "counts": [data.counts[state] for state in STATES], "workers": data.workers,
                })
        context = {**self.admin_site.each_context(request), "snapshot": view, "rows": rows, "seconds": f"{view.seconds:.2f}"}
        return TemplateResponse(request, "admin/taskbridge/cutover.html", context)
