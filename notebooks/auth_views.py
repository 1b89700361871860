"""Session login for API clients (mounted under /api/auth/).

The API authenticates with Django's session. Admin's login page refuses
anyone who is not staff, so API users log in here instead, with JSON, and
CSRF protection stays on: ``GET session/`` sets the ``csrftoken`` cookie, and
each POST sends it back as ``X-CSRFToken``. Logging in rotates both the
session key and the CSRF token (Django's ``login``), so a client reads the
cookie again afterwards.
"""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from .api import ApiError, field, json_body


def _session_json(request: HttpRequest) -> dict:
    user = request.user
    return {"authenticated": user.is_authenticated, "username": user.get_username() if user.is_authenticated else None}


@never_cache
@require_GET
@ensure_csrf_cookie
def session(request: HttpRequest) -> JsonResponse:
    """Who is logged in; also hands out the CSRF cookie the other calls need."""
    return JsonResponse(_session_json(request))


@never_cache
@require_POST
def login_view(request: HttpRequest) -> JsonResponse:
    try:
        data = json_body(request)
        username, password = field(data, "username", str), field(data, "password", str)
    except ApiError as error:
        return error.response()
    user = authenticate(request, username=username, password=password)
    if user is None:
        return JsonResponse({"error": "invalid username or password"}, status=400)
    login(request, user)
    return JsonResponse(_session_json(request))


@never_cache
@require_POST
def logout_view(request: HttpRequest) -> JsonResponse:
    logout(request)
    return JsonResponse(_session_json(request))
