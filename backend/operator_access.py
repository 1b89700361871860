"""django-rq's dashboard behind an explicit permission, not staff status alone.

django-rq's views check ``is_staff`` only, so any staff account (one made to
edit a few rows in admin) could read every job's arguments and delete or
requeue jobs. Here every dashboard view, read or action, also needs
django-rq's own permission ``django_rq.admin`` ("Access admin page"), granted
to a user or group in admin. The dashboard is served only at ``/django-rq/``
(``RQ_SHOW_ADMIN_LINK = False`` keeps django-rq from adding a staff-only copy
under /admin/), and its token-authenticated JSON views go through the same
check: no ``RQ_API_TOKEN`` is configured.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

PERMISSION = "django_rq.admin"


def operator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login (redirect), then an active staff user holding :data:`PERMISSION` (403 otherwise)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff and user.has_perm(PERMISSION)):
            raise PermissionDenied(f"the job dashboard needs the {PERMISSION} permission")
        return view(request, *args, **kwargs)

    return wrapper


urlpatterns = [
    *(URLPattern(p.pattern, operator_required(p.callback), p.default_args, p.name) for p in get_api_urlpatterns()),
    *get_admin_urlpatterns(view_wrapper=operator_required),
]
