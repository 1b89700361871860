"""django-rq's settings derived from ``TASKBRIDGE["QUEUES"]``. Imported from a settings
module, so it imports nothing that needs Django configured."""

from __future__ import annotations

from typing import Any, Mapping

from ...queues import parse_queues


def rq_queues(queues: Mapping[str, Mapping[str, Any]], redis_url: str) -> dict[str, dict[str, Any]]:
    """django-rq's RQ_QUEUES, JSON-serialised, from TASKBRIDGE['QUEUES']."""
    return {
        spec.name: {
            "URL": redis_url,
            "DEFAULT_TIMEOUT": spec.timeout,
            "SERIALIZER": "rq.serializers.JSONSerializer",
        }
        for spec in parse_queues(queues).values()
    }
