from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.shortcuts import redirect
from django.urls import path
from django.utils import timezone
from waffle import get_waffle_flag_model
from waffle.admin import FlagAdmin

from . import cockpit, conf
from .errors import InterlockRefused, RouteError
from .flags import ChangeContext, changing, check_interlock, queue_of, target_of
from .models import Cutover, RouteChange
from .routing import FlagState


class _ReadOnly:
    """Rows written only by taskbridge itself: nobody adds, changes or deletes them in admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RouteChange)
class RouteChangeAdmin(_ReadOnly, admin.ModelAdmin):
    """The audit of route changes, read-only, to the second (the runbook's ``compare --since`` needs it)."""

    list_display = ("changed", "flag", "from_route", "to_route", "changed_by", "origin", "forced", "reason")
    list_filter = ("queue", "origin", "forced", "to_route")
    search_fields = ("flag", "queue", "task", "reason")

    @admin.display(description="changed at", ordering="changed_at")
    def changed(self, obj: RouteChange) -> str:
        return timezone.localtime(obj.changed_at).strftime("%Y-%m-%d %H:%M:%S %Z")


    def get_urls(self):
        # The cockpit's first address, kept for bookmarks and the runbook.
        moved = self.admin_site.admin_view(lambda request: redirect("admin:taskbridge_cutover_changelist", permanent=True))
        return [path("cutover/", moved, name="taskbridge_cutover"), *super().get_urls()]


@admin.register(Cutover)
class CutoverAdmin(_ReadOnly, admin.ModelAdmin):
    """The cutover cockpit (:mod:`taskbridge.cockpit`) as the "cutover cockpit" entry of the
    admin index and sidebar; listed for users with ``taskbridge.view_cutover``."""


    def has_view_permission(self, request, obj=None):
        return cockpit.can_view(request.user)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("", view(self.changelist_view), name="taskbridge_cutover_changelist"),
            path("live.json", view(cockpit.live_json), name="taskbridge_cutover_live"),
            path("route/", view(self.route_view), name="taskbridge_cutover_route"),
            path("ramp/<str:action>/", view(self.ramp_view), name="taskbridge_cutover_ramp"),
        ]

    def _context(self, request) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.model._meta}

    def changelist_view(self, request, extra_context=None):
        return cockpit.page(request, self._context(request))

    def route_view(self, request):
        return cockpit.change_route(request, self._context(request))

    def ramp_view(self, request, action: str):
        return cockpit.ramp(request, self._context(request), action)


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

    def clean(self) -> dict[str, Any]:
        """A taskbridge flag's route passes the interlock (a new one, made on waffle's add
        form, too; forcing takes the change form's reason and force)."""
        data = super().clean()
        target = target_of(data.get("name") or self.instance.name or "")
        if self.errors or target is None:
            return data
        name = data.get("name") or self.instance.name
        share = FlagState(name, data.get("everyone"), data.get("percent")).share
        try:
            self.forced = check_interlock(
                name, queue_of(target.get("queue"), target.get("task")), share,
                RouteChange.Origin.ADMIN, data.get("reason", ""), data.get("force", False),
            )
        except InterlockRefused as error:
            raise forms.ValidationError(f"Refused by the interlock: {error}") from error
        except RouteError as error:
            raise forms.ValidationError(str(error)) from error
        return data


class RouteSelect(forms.NullBooleanSelect):
    """waffle's Everyone choice in route words."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.choices = [
            ("false", f"all to the baseline ({conf.baseline()})"),
            ("unknown", f"canary: the percent below to the candidate ({conf.candidate()}), the rest to the baseline"),
            ("true", f"all to the candidate ({conf.candidate()})"),
        ]


class RouteFlagForm(FlagForm):
    """The change form of a taskbridge flag: only what routing reads (Everyone as the route,
    Percent), plus the reason and the interlock's force, both audited."""

    reason = forms.CharField(required=False, max_length=500, widget=forms.TextInput(attrs={"size": 60}),
                             help_text="Why, for the audit (required to force).")
    force = forms.BooleanField(required=False, label="Force past the interlock",
                               help_text="Route even to a backend with no live worker on the queue (audited).")

    class Meta(FlagForm.Meta):
        fields = ("everyone", "percent", "note")
        labels = {"everyone": "Route"}
        widgets = {"everyone": RouteSelect}


class ValidatedFlagAdmin(FlagAdmin):
    """waffle's own Flag admin (lists, actions, filters), with :class:`FlagForm`; a taskbridge
    flag's change page shows only its route (:class:`RouteFlagForm`), through the interlock."""

    form = FlagForm

    @staticmethod
    def _ours(obj: Any) -> bool:
        return obj is not None and target_of(obj.name) is not None

    def get_form(self, request, obj=None, **kwargs):
        if self._ours(obj):
            kwargs["form"] = RouteFlagForm
            kwargs["fields"] = ("everyone", "percent", "note", "reason", "force")
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if not self._ours(obj):
            return super().get_fieldsets(request, obj)
        return [(None, {
            "fields": ("name", "everyone", "percent", "reason", "force", "note"),
            "description": (
                f"This flag is taskbridge's route for {target_of(obj.name)}: it decides which backend gets new "
                f"dispatches — the baseline ({conf.baseline()}), the candidate ({conf.candidate()}), or a canary "
                "share of them to the candidate. Jobs already queued stay where they are. waffle's other fields "
                "(testing, users, groups, languages, rollout) do not apply to routing and are not shown. "
                "The cutover cockpit shows each queue's workers and jobs."
            ),
        })]

    def get_readonly_fields(self, request, obj=None):
        return ("name",) if self._ours(obj) else super().get_readonly_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if isinstance(form, RouteFlagForm):
            context = ChangeContext(request.user, RouteChange.Origin.ADMIN, form.cleaned_data.get("reason", ""), getattr(form, "forced", False))
            with changing(context):
                return super().save_model(request, obj, form, change)
        return super().save_model(request, obj, form, change)


# Replace waffle's registration, only where waffle registered one (WAFFLE_ENABLE_ADMIN_PAGES).
if admin.site.is_registered(get_waffle_flag_model()):
    admin.site.unregister(get_waffle_flag_model())
    admin.site.register(get_waffle_flag_model(), ValidatedFlagAdmin)
