"""JSON API for reports (mounted under /api/reports/)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from notebooks import longjobs
from notebooks.api import ApiError, api_view, field, json_body, owned, task_json, when
from notebooks.models import Notebook

from . import jobs
from .models import Report
from .validation import validate_config


def report_json(report: Report, *, with_task: bool = True) -> dict[str, Any]:
    return {
        "id": report.pk, "notebook": report.notebook_id, "title": report.title, "status": report.status,
        "configuration": report.configuration, "progress": report.progress,
        "markdown_url": f"/api/reports/{report.pk}/markdown/" if report.markdown_file else None,
        "error": report.error_message or None,
        "task": task_json(report.task_handle) if with_task else {"handle": report.task_handle or None},
        "created_at": when(report.created_at), "started_at": when(report.started_at), "completed_at": when(report.completed_at),
    }


def _validated(config: Any) -> dict[str, Any]:
    result = validate_config(config)
    if not result["valid"]:
        raise _InvalidConfig(result)
    return result["config"]


class _InvalidConfig(ApiError):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(400, "invalid report configuration", "config")
        self.result = result

    def response(self) -> JsonResponse:
        return JsonResponse({"error": self.message, "field": "config", "errors": self.result["errors"]}, status=400)


@api_view("GET", "POST")
def reports(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse({"reports": [report_json(r, with_task=False) for r in Report.objects.filter(user=request.user)]})
    data = json_body(request)
    notebook = owned(Notebook.objects, field(data, "notebook", int), request.user, "notebook", field_name="notebook")
    report = jobs.start(request.user, notebook, _validated(data.get("config")))
    return JsonResponse(report_json(report), status=202)


@api_view("POST")
def validate(request: HttpRequest) -> JsonResponse:
    """Check a configuration without starting anything (the same rules as create)."""
    return JsonResponse(validate_config(json_body(request).get("config")))


@api_view("GET", "DELETE")
def report_detail(request: HttpRequest, report_id: int) -> JsonResponse:
    report = owned(Report.objects, report_id, request.user, "report")
    if request.method == "DELETE":
        handle = jobs.delete(report)
        return JsonResponse({"id": report_id, "deleting": True, "task": {"handle": handle}}, status=202)
    return JsonResponse(report_json(report))


@api_view("POST")
def cancel(request: HttpRequest, report_id: int) -> JsonResponse:
    report = owned(Report.objects, report_id, request.user, "report")
    if not longjobs.cancel(report):
        raise ApiError(409, f"report {report.pk} is already {report.status}")
    return JsonResponse(report_json(report))


@api_view("GET")
def markdown(request: HttpRequest, report_id: int) -> HttpResponse:
    report = owned(Report.objects, report_id, request.user, "report")
    if report.status != Report.Status.COMPLETED:
        raise ApiError(404, f"report {report.pk} has no output yet (status {report.status})")
    return HttpResponse(report.content, content_type="text/markdown; charset=utf-8")
