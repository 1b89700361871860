from django.conf import settings
from django.db import models


class RouteChange(models.Model):
    """Audit of every change to a taskbridge flag: who, when, from, to, why and from where."""

    class Origin(models.TextChoices):
        ADMIN = "admin", "Django admin (flag form)"
        COCKPIT = "cockpit", "cutover page"
        COMMAND = "command", "manage.py taskbridge route"
        GUARD = "guard", "guard"
        CODE = "code", "code (set_route)"

    flag = models.CharField(max_length=100, db_index=True)
    queue = models.CharField(max_length=100, blank=True)
    task = models.CharField(max_length=255, blank=True)
    from_route = models.CharField(max_length=50)
    to_route = models.CharField(max_length=50)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.ADMIN)
    reason = models.TextField(blank=True)
    forced = models.BooleanField(default=False, help_text="Made although the interlock refused it (no live worker).")

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.flag}: {self.from_route} → {self.to_route}"


class OutboxDispatch(models.Model):
    """A dispatch made with ``enqueue_on_commit``, written in the caller's own transaction
    (taskbridge.outbox): it is sent right after the commit, and if that fails (broker down,
    process killed) the reconciler sends it later. Deleted once sent."""

    job_id = models.CharField(max_length=200, unique=True)
    backend = models.CharField(max_length=100)
    task = models.CharField(max_length=255)
    message = models.JSONField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.task} {self.job_id} → {self.backend}"


class Cutover(RouteChange):
    """The cutover cockpit's place in admin (index, sidebar, breadcrumbs) and its permission,
    ``taskbridge.view_cutover``: a proxy with no rows of its own."""

    class Meta:
        proxy = True
        default_permissions = ("view",)
        verbose_name = verbose_name_plural = "cutover cockpit"


class Ramp(models.Model):
    """A queue's progressive rollout plan and where it stands; the guard advances it.

    ``steps`` are the candidate's shares in percent (e.g. ``[5, 25, 50, 100]``);
    ``step`` is the index of the share now routed. A step is held at least
    ``hold_seconds`` and until ``hold_jobs`` jobs finished on the candidate
    since it began, with no regression, before the next. Each step is a
    route change through ``flags.set_route`` and so audited in :class:`RouteChange`.
    """

    class State(models.TextChoices):
        RUNNING = "running", "running"
        PAUSED = "paused", "paused"
        DONE = "done", "done"
        ROLLED_BACK = "rolled-back", "rolled back by the guard"

    queue = models.CharField(max_length=100, unique=True)
    steps = models.JSONField()
    hold_seconds = models.FloatField()
    hold_jobs = models.PositiveIntegerField()
    step = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    step_started_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"ramp {self.queue}: {self.state} at step {self.step + 1}/{len(self.steps)}"
