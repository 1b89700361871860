"""Puts the request's correlation id (``X-Correlation-ID``, or a new one) in context for dispatches."""

from __future__ import annotations

from typing import Callable

from django.http import HttpRequest, HttpResponse

from . import correlation

HEADER = "X-Correlation-ID"


class CorrelationIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        value = correlation.accept(request.headers.get(HEADER))
        request.correlation_id = value
        token = correlation.set(value)
        try:
            response = self.get_response(request)
        finally:
            correlation.reset(token)
        response[HEADER] = value
        return response


class FlagActorMiddleware:
    """Remembers the request's user so a flag change made in admin is audited with its author."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from .flags import set_actor

        set_actor(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            set_actor(None)
