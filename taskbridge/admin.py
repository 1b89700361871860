import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.template.response import TemplateResponse
from django.urls import path
from waffle import get_waffle_flag_model
from waffle.admin import FlagAdmin

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
                    "backlog": data.backlog, "policy": queue.backlog_policy, "last_move": _describe_move(queue.last_move),
                })
        context = {**self.admin_site.each_context(request), "snapshot": view, "rows": rows, "seconds": f"{view.seconds:.2f}"}
        return TemplateResponse(request, "admin/taskbridge/cutover.html", context)


def _describe_move(report: dict | None) -> str:
    if not report:
        return "none"
    moved = ", ".join(f"{n} {path}" for path, n in sorted(report["moved"].items())) or "nothing"
    skipped = sum(report["skipped"].values())
    when = dt.datetime.fromtimestamp(report["at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when}: moved {moved}" + (f", {skipped} not moved" if skipped else "")


class FlagForm(forms.ModelForm):
    """waffle's Flag form with ``percent`` held to 0-99.9.

    A queue's flag percent is the share of dispatches sent to the candidate;
    waffle itself stores a negative one (which then routes like 0), so an
    operator's typo would silently stop a canary instead of being refused.
    """

    percent = forms.DecimalField(
        required=False, max_digits=3, decimal_places=1,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("99.9"))],
        help_text="Share of dispatches (0 to 99.9, the column's range) routed to the candidate when Everyone is "
                  "Unknown; for all of them, set Everyone to Yes.",
    )

    class Meta:
        model = get_waffle_flag_model()
        fields = "__all__"


class ValidatedFlagAdmin(FlagAdmin):
    """waffle's own Flag admin (lists, actions, filters), with :class:`FlagForm`."""

    form = FlagForm


# Replace waffle's registration, only where waffle registered one (WAFFLE_ENABLE_ADMIN_PAGES).
if admin.site.is_registered(get_waffle_flag_model()):
    admin.site.unregister(get_waffle_flag_model())
    admin.site.register(get_waffle_flag_model(), ValidatedFlagAdmin)
