"""The cutover cockpit's views: the page, its live JSON, the route change (review,
then confirm) that goes through :func:`taskbridge.flags.set_route`, and the ramp
controls (start, pause, resume) of :mod:`taskbridge.guard.ramp`.

Viewing needs ``taskbridge.view_cutover``; changing a route also needs
``waffle.change_flag`` (the route is the queue's waffle flag). Staff status alone
gives neither; the ramp controls need what changing a route needs. The page and
the JSON read only the database (routes, last changes, ramps) and two Redis keys
(:mod:`taskbridge.live`'s figures and the guard's published state), so they answer
fast whatever Celery's broadcast takes.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from . import conf, cutover, interlock, live, move
from .errors import InterlockRefused, RouteError
from .flags import set_route
from .guard import ramp as ramps
from .guard import state as guard_state
from .models import RouteChange

VIEW_PERMISSION = "taskbridge.view_cutover"
CHANGE_PERMISSION = "waffle.change_flag"


def can_view(user: Any) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(VIEW_PERMISSION))


def can_change(user: Any) -> bool:
    return can_view(user) and user.has_perm(CHANGE_PERMISSION)


class RouteForm(forms.Form):
    """One queue's new route: all to the baseline, a canary share to the candidate, or all to it."""

    queue = forms.ChoiceField(choices=())
    target = forms.ChoiceField(choices=(), widget=forms.RadioSelect)
    percent = forms.DecimalField(
        required=False, max_digits=3, decimal_places=1, label="canary %",
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("99.9"))],
    )
    backlog = forms.ChoiceField(
        required=False, choices=(("", "the queue's policy"), ("keep", "keep"), ("move", "move")),
        label="backlog", help_text="keep: waiting jobs run where they are; move: they follow the new route",
    )
    reason = forms.CharField(required=False, max_length=500)
    force = forms.BooleanField(required=False, label="force past the interlock (needs a reason; audited)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [(name, name) for name in conf.queues()]
        self.fields["target"].choices = [
            ("baseline", f"baseline ({conf.baseline()})"), ("canary", "canary"), ("candidate", f"candidate ({conf.candidate()})"),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("target") == "canary" and data.get("percent") is None:
            self.add_error("percent", "a canary needs the candidate's share, 0.1 to 99.9")
        return data

    @property
    def share(self) -> float:
        target = self.cleaned_data["target"]
        return {"baseline": 0.0, "candidate": 100.0}.get(target) if target != "canary" else float(self.cleaned_data["percent"])


class RampForm(forms.Form):
    """A ramp plan for one queue: the candidate's shares, step by step, and how long each is held."""

    queue = forms.ChoiceField(choices=())
    steps = forms.CharField(max_length=200, initial="5,25,50,100", help_text="the candidate's shares in percent, rising")
    hold_seconds = forms.FloatField(min_value=0, initial=600, label="hold s")
    hold_jobs = forms.IntegerField(min_value=0, initial=100, label="hold jobs")
    reason = forms.CharField(required=False, max_length=400)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [(name, name) for name in conf.queues()]

    def clean_steps(self) -> str:
        try:
            ramps.parse_steps(self.cleaned_data["steps"])
        except RouteError as error:
            raise forms.ValidationError(str(error)) from None
        return self.cleaned_data["steps"]


def _last_changes() -> dict[str, cutover.LastChange]:
    """Each queue's latest route change, in two queries (the newest row has the highest id)."""
    names = {conf.queue_flag_name(queue): queue for queue in conf.queues()}
    latest = RouteChange.objects.filter(flag__in=names).values("flag").annotate(last=Max("id")).values_list("last", flat=True)
    found = {}
    for change in RouteChange.objects.filter(id__in=list(latest)).select_related("changed_by"):
        found[names[change.flag]] = cutover.LastChange(
            when=timezone.localtime(change.changed_at).isoformat(timespec="seconds"),
            who=change.changed_by.get_username() if change.changed_by else None,
            origin=change.origin, reason=change.reason, forced=change.forced,
            from_route=change.from_route, to_route=change.to_route,
        )
    return found


def payload(figures: cutover.Figures | None) -> dict[str, Any]:
    """What the page shows, as JSON: each queue's route and last change (read now) and the
    refresher's figures with their age (``None`` until the first refresh)."""
    guard = guard_state.snapshot()
    queues = cutover.assemble(figures, _last_changes(), guard)
    now = timezone.now().timestamp()
    at = guard["guard"]["at"]
    return {
        "baseline": conf.baseline(),
        "candidate": conf.candidate(),
        "minutes": cutover.MINUTES,
        "guard": {
            "running": guard["guard"]["active"], "holder": guard["guard"]["holder"],
            "age": round(now - at, 1) if guard["guard"]["active"] and at else None,
        },
        "figures_age": round(now - figures.at, 1) if figures else None,
        "jobs_scanned": figures.jobs_scanned if figures else None,
        "queues": [asdict(view) for view in queues],
    }


def _require(allowed: bool, what: str) -> None:
    if not allowed:
        raise PermissionDenied(what)


@require_GET
def page(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    _require(can_view(request.user), f"the cutover cockpit needs the {VIEW_PERMISSION} permission")
    data = payload(live.current())
    forms_by_queue = {
        view["queue"]: RouteForm(initial={
            "queue": view["queue"], "percent": view["share"] if 0 < view["share"] < 100 else None,
            "target": {0.0: "baseline", 100.0: "candidate"}.get(view["share"], "canary"),
        }, auto_id=f"id_{view['queue']}_%s")
        for view in data["queues"]
    }
    context = {
        **context, "title": "Cutover cockpit", "payload": data, "can_change": can_change(request.user),
        "queues": [
            (view, forms_by_queue[view["queue"]], RampForm(initial={"queue": view["queue"]}, auto_id=f"id_{view['queue']}_ramp_%s"))
            for view in data["queues"]
        ],
    }
    return TemplateResponse(request, "admin/taskbridge/cutover.html", context)


@require_GET
def live_json(request: HttpRequest) -> JsonResponse:
    _require(can_view(request.user), f"the cutover cockpit needs the {VIEW_PERMISSION} permission")
    return JsonResponse(payload(live.current()))


def describe(queue: str, share: float, figures: cutover.Figures | None, policy: str | None = None) -> dict[str, Any]:
    """What a change of ``queue`` to ``share`` does, in the words the review page shows."""
    _, route, before = cutover.route_of(queue)
    backends = figures.backends.get(queue, {}) if figures else {}
    backlog = [
        {"backend": alias, "jobs": view.backlog, "oldest_seconds": view.oldest_seconds} for alias, view in backends.items()
    ]
    presence = {alias: {queue: view.workers} for alias, view in backends.items()}
    preview = interlock.findings(queue, share, lambda alias: presence.get(alias, {})) if figures else None
    return {
        "queue": queue, "route": route, "before": before, "after": share,
        "baseline_before": 100 - before, "baseline_after": 100 - share, "backlog": backlog, "interlock": preview,
        "backlog_policy": move.policy(queue, policy or None),
    }


@require_POST
def change_route(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """Review (the first POST) or make (``confirm``) a route change; the interlock is
    checked for real, against fresh worker presence, when the change is made."""
    _require(can_change(request.user), f"changing a route needs the {VIEW_PERMISSION} and {CHANGE_PERMISSION} permissions")
    form = RouteForm(request.POST)
    status, refused = 200, None
    if form.is_valid():
        queue = form.cleaned_data["queue"]
        if "confirm" in request.POST:
            try:
                change = set_route(
                    queue, form.share, user=request.user, origin=RouteChange.Origin.COCKPIT,
                    reason=form.cleaned_data["reason"], force=form.cleaned_data["force"],
                    backlog=form.cleaned_data["backlog"] or None,
                )
            except InterlockRefused as error:
                status, refused = 409, error.findings
            except RouteError as error:
                status, refused = 409, [str(error)]
            else:
                if change is None:
                    messages.info(request, f"Queue {queue}: the route was already that; nothing changed.")
                else:
                    forced = " (forced past the interlock)" if change.forced else ""
                    messages.success(request, f"Queue {queue}: {change.from_route} → {change.to_route}{forced}.")
                return redirect("admin:taskbridge_cutover_changelist")
    else:
        status = 400
    review = describe(form.cleaned_data["queue"], form.share, live.current(), form.cleaned_data["backlog"]) if form.is_valid() else None
    context = {**context, "title": "Review route change", "form": form, "review": review, "refused": refused}
    return TemplateResponse(request, "admin/taskbridge/route_review.html", context, status=status)


RAMP_ACTIONS = ("start", "pause", "resume")


@require_POST
def ramp(request: HttpRequest, context: dict[str, Any], action: str) -> HttpResponse:
    """Start, pause or resume a queue's ramp. A refusal (a bad plan, no ramp to pause, the
    interlock) answers 409 with its reason and changes nothing; bad input answers 400."""
    _require(can_change(request.user), f"a ramp needs the {VIEW_PERMISSION} and {CHANGE_PERMISSION} permissions")
    if action not in RAMP_ACTIONS:
        raise Http404(f"no ramp action {action!r}")
    queue = request.POST.get("queue", "")
    form = RampForm(request.POST) if action == "start" else None
    status, refused = 400, None
    if queue not in conf.queues():
        refused = [f"no queue {queue!r} in TASKBRIDGE['QUEUES']"]
    elif form is not None and not form.is_valid():
        refused = [f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()]
    else:
        try:
            if form is not None:
                done = ramps.start(
                    queue, form.cleaned_data["steps"], hold_seconds=form.cleaned_data["hold_seconds"],
                    hold_jobs=form.cleaned_data["hold_jobs"], user=request.user, origin=RouteChange.Origin.COCKPIT,
                    reason=form.cleaned_data["reason"],
                )
            elif action == "pause":
                done = ramps.pause(queue, f"paused from the cockpit by {request.user.get_username()}")
            else:
                done = ramps.resume(queue, user=request.user, origin=RouteChange.Origin.COCKPIT)
        except InterlockRefused as error:
            status, refused = 409, [*error.findings, "start the candidate's workers on the queue first (a ramp step is never forced)"]
        except RouteError as error:
            status, refused = 409, [str(error)]
        else:
            messages.success(request, f"Queue {queue}: ramp {done.state}, step {done.step + 1}/{len(done.steps)} ({done.steps[done.step]:g}%).")
            return redirect("admin:taskbridge_cutover_changelist")
    context = {**context, "title": f"Ramp {action} refused", "queue": queue, "action": action, "refused": refused}
    return TemplateResponse(request, "admin/taskbridge/ramp_refused.html", context, status=status)
