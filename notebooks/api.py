"""The small JSON-API toolkit the three apps' views share (plain Django, no DRF).

Authentication is Django's session. CSRF protection stays on: a browser
client reads the ``csrftoken`` cookie (set by any GET to the API) and sends it
back as ``X-CSRFToken``; non-browser clients log in and do the same. Every
view requires a logged-in user (401 otherwise) and only ever looks objects up
among the user's own, so someone else's object is a 404, never a 403 that
would confirm it exists.

Bad input is always a JSON 4xx, never an HTML page or a 500: a body over
Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413, a NUL character anywhere
in a JSON body a 400 (PostgreSQL cannot store one in a text column), a
refused CSRF token a 403 (:func:`csrf_failure`).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import models
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.views.csrf import csrf_failure as html_csrf_failure

from taskbridge import ArgumentError, TaskHandle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def response(self) -> JsonResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.field:
            body["field"] = self.field
        return JsonResponse(body, status=self.status)


def api_view(*methods: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A JSON endpoint: allowed methods, login required, :class:`ApiError` → JSON error."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = JsonResponse({"error": f"method {request.method} not allowed"}, status=405)
                response["Allow"] = ", ".join(methods)
                return response
            if not request.user.is_authenticated:
                return JsonResponse({"error": "authentication required"}, status=401)
            if request.method in SAFE_METHODS:
                get_token(request)  # sets the csrftoken cookie for the client's next write
            try:
                return view(request, *args, **kwargs)
            except ApiError as error:
                return error.response()
            except ArgumentError as exc:
                # Rows written with the dispatch roll back with it (the views dispatch in one transaction).
                return ApiError(400, f"cannot start the job: {exc}").response()
            except RequestDataTooBig:
                return ApiError(413, "request body is larger than the limit").response()
            except (TooManyFieldsSent, TooManyFilesSent) as exc:
                return ApiError(400, str(exc)).response()

        return wrapper

    return decorate


def json_body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "send a JSON object with Content-Type: application/json")
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    _refuse_nul(data, "")
    return data


def _refuse_nul(value: Any, path: str) -> None:
    """A NUL character anywhere (keys included) is a 400 naming where it is."""
    if isinstance(value, str):
        if "\x00" in value:
            name = path or "(body)"
            raise ApiError(400, f"'{name}' contains a NUL character", name.split(".", 1)[0].split("[", 1)[0])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, path)
            _refuse_nul(item, f"{path}.{key}" if path else key)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: the API answers JSON; every other page keeps Django's own."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": f"CSRF check failed: {reason}; send the csrftoken cookie's value as X-CSRFToken"}, status=403)
    return html_csrf_failure(request, reason)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: a JSON 404 under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": f"no API endpoint at {request.path}"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = True, default: Any = None) -> Any:
    """``data[name]`` checked against ``kind``; a missing required field is a 400 naming it."""
    if name not in data or data[name] is None or data[name] == "":
        if required:
            raise ApiError(400, f"'{name}' is required", name)
        return default
    value = data[name]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ApiError(400, f"'{name}' has the wrong type", name)
    if not isinstance(value, kind):
        raise ApiError(400, f"'{name}' has the wrong type", name)
    return value


def int_field(data: dict[str, Any], name: str, *, default: int, low: int, high: int) -> int:
    value = field(data, name, int, required=False, default=default)
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low} and {high}", name)
    return value


def owned(queryset: models.QuerySet, pk: Any, user: Any, what: str, *, status: int = 404, field_name: str | None = None) -> Any:
    """The user's own object ``pk`` from ``queryset`` (which has a ``user`` field), else an error."""
    try:
        return queryset.get(pk=int(pk), user=user)
    except (queryset.model.DoesNotExist, TypeError, ValueError):
        raise ApiError(status, f"{what} {pk} not found", field_name) from None


def task_json(handle: str) -> dict[str, Any] | None:
    """A stored ``str(TaskHandle)`` and the job's current state, for job representations."""
    if not handle:
        return None
    return {"handle": handle, "status": TaskHandle.from_string(handle).status().value}


def when(value: Any) -> str | None:
    return value.isoformat() if value else None
