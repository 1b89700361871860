"""The small JSON-API toolkit the three apps' views share (plain Django, no DRF).

Authentication is Django's session. CSRF protection stays on: a browser
client reads the ``csrftoken`` cookie (set by any GET to the API) and sends it
back as ``X-CSRFToken``; non-browser clients log in and do the same. Every
view requires a logged-in user (401 otherwise) and only ever looks objects up
among the user's own, so someone else's object is a 404, never a 403 that
would confirm it exists.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable

from django.db import models
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token

from taskbridge import TaskHandle

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
    return data


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
