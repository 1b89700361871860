"""``/metrics``: the live figures in Prometheus' text format, read from Redis at each scrape.

The counts and histograms are kept in Redis by :mod:`taskbridge.stream` as each
event is written, by every process, so one scrape of any web process sees the
whole fleet (no per-process registry to aggregate, nothing lost when a worker
restarts). Route shares come from the flags, guard and ramp state from
:func:`taskbridge.guard.state.snapshot`. The view answers staff users and
holders of ``TASKBRIDGE["METRICS_TOKEN"]`` (``Authorization: Bearer …``).
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from typing import Any, Iterator

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from . import conf, stream
from .redis import connection

RAMP_STATES = ("running", "paused", "done", "rolled-back")
VERDICTS = ("go", "hold", "insufficient-data")


class TaskbridgeCollector(Collector):
    """Yields every taskbridge metric family from Redis and the database, at scrape time."""

    def collect(self) -> Iterator[Any]:
        conn = connection()
        yield self._jobs(conn.hgetall(stream.COUNTS_KEY))
        yield from self._histograms(conn.hgetall(stream.HISTOGRAM_KEY))
        yield from self._routes_and_guard()

    @staticmethod
    def _jobs(raw: dict[bytes, bytes]) -> CounterMetricFamily:
        family = CounterMetricFamily("taskbridge_jobs", "Task events by outcome (enqueued, started, succeeded, failed, retrying, cancelled, skipped), per queue and backend", labels=["queue", "backend", "outcome"])
        for field, value in sorted(raw.items()):
            event, queue, backend = field.decode().split(stream.SEPARATOR)
            family.add_metric([queue, backend, event.removeprefix("task.")], int(value))
        return family

    @staticmethod
    def _histograms(raw: dict[bytes, bytes]) -> Iterator[HistogramMetricFamily]:
        series: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
        for field, value in raw.items():
            kind, queue, backend, bound = field.decode().split(stream.SEPARATOR)
            series[(kind, queue, backend)][bound] = float(value)
        helps = {"run": "Run time of successful runs (task.succeeded duration_ms)", "wait": "Queue wait of every start (task.started wait_ms)"}
        for kind, help_text in helps.items():
            family = HistogramMetricFamily(f"taskbridge_{kind}_seconds", help_text, labels=["queue", "backend"])
            for (name, queue, backend), values in sorted(series.items()):
                if name != kind:
                    continue
                total, buckets = 0.0, []
                for bound in (*map(repr, stream.BUCKETS), "+Inf"):
                    total += values.get(bound, 0.0)
                    buckets.append((bound, total))
                family.add_metric([queue, backend], buckets, sum_value=values.get("sum", 0.0))
            yield family

    @staticmethod
    def _routes_and_guard() -> Iterator[GaugeMetricFamily]:
        from .guard.state import snapshot

        view = snapshot()
        share = GaugeMetricFamily("taskbridge_route_candidate_share_percent", f"Share of new dispatches routed to the candidate ({conf.candidate()})", labels=["queue"])
        regression = GaugeMetricFamily("taskbridge_guard_regression", "1 while the guard finds the candidate regressed on the queue", labels=["queue"])
        verdict = GaugeMetricFamily("taskbridge_guard_verdict", "The guard's live verdict per queue (1 for the current one)", labels=["queue", "verdict"])
        step = GaugeMetricFamily("taskbridge_ramp_step", "The ramp's current step (1-based; 0 without a ramp)", labels=["queue"])
        ramp_state = GaugeMetricFamily("taskbridge_ramp_state", "The ramp's state (1 for the current one)", labels=["queue", "state"])
        for queue, row in view["queues"].items():
            share.add_metric([queue], row["share"])
            regression.add_metric([queue], 1.0 if row["regression"] else 0.0)
            for name in VERDICTS:
                verdict.add_metric([queue, name], 1.0 if row["verdict"] == name else 0.0)
            ramp = row["ramp"]
            step.add_metric([queue], ramp["step"] if ramp else 0)
            for name in RAMP_STATES:
                ramp_state.add_metric([queue, name], 1.0 if ramp and ramp["state"] == name else 0.0)
        yield GaugeMetricFamily("taskbridge_guard_active", "1 while a guard holds the lease and publishes", value=1.0 if view["guard"]["active"] else 0.0)
        yield from (share, regression, verdict, step, ramp_state)


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TaskbridgeCollector())
    return generate_latest(registry)


def _allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    token = conf.option("METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    return bool(token) and given.startswith("Bearer ") and hmac.compare_digest(given[len("Bearer "):].encode(), str(token).encode())


def view(request: HttpRequest) -> HttpResponse:
    """The scrape endpoint: 401 without staff login or the bearer token."""
    if not _allowed(request):
        response = HttpResponse("staff login or TASKBRIDGE['METRICS_TOKEN'] as a bearer token required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="taskbridge metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
