"""A dispatching process for the outage tests (tests/test_outage.py), pointed by its
environment at a private redis-server that the test stops and stalls. The test process
itself stays on the session's Redis, so the client runs apart and takes one JSON command
per stdin line, answering one JSON line on stdout:

    {"op": "route", "target": "candidate"}                 every queue to that target
    {"op": "enqueue", "task": "mark", "args": ["t1"]}      -> handle, backend, seconds
                                                           or error, message, cause, seconds
    {"op": "upload", "user": "alice", "text": "...", "name": "n.txt"}
                                                           -> status, body, seconds (a request
                                                              through the API, on_commit dispatch)

    python -m tests.support.outage_client
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any


def _route(command: dict[str, Any]) -> dict[str, Any]:
    from django.conf import settings

    from taskbridge import routing
    from taskbridge.flags import set_route

    import redis

    flush_failed = 0
    for queue in settings.TASKBRIDGE["QUEUES"]:
        try:
            set_route(queue, command["target"], reason="outage test")
        except redis.ConnectionError:
            flush_failed += 1  # committed; waffle's cache flush (an on_commit hook) met the dead Redis
    routing.flags.invalidate()
    return {"ok": True, "cache_flush_failed": flush_failed}


def _enqueue(command: dict[str, Any]) -> dict[str, Any]:
    from taskbridge.errors import EnqueueError
    from tests.taskapp import tasks

    started = time.monotonic()
    try:
        handle = getattr(tasks, command["task"]).enqueue(*command.get("args", []))
    except EnqueueError as exc:
        cause = exc.__cause__
        return {"ok": False, "error": type(exc).__name__, "message": str(exc), "seconds": time.monotonic() - started,
                "cause": f"{type(cause).__module__}.{type(cause).__name__}" if cause else None}
    return {"ok": True, "handle": str(handle), "job_id": handle.job_id, "backend": handle.backend,
            "seconds": time.monotonic() - started}


def _upload(command: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username=command["user"])
    client = Client(SERVER_NAME="localhost", raise_request_exception=False)
    client.force_login(user)
    notebook = client.post("/api/notebooks/", data=json.dumps({"name": "Outage"}), content_type="application/json")
    if notebook.status_code != 201:
        return {"ok": False, "status": notebook.status_code, "body": notebook.content.decode(errors="replace")[:2000]}
    notebook_id = notebook.json()["id"]
    started = time.monotonic()
    response = client.post(f"/api/notebooks/{notebook_id}/sources/file/",
                           {"file": SimpleUploadedFile(command["name"], command["text"].encode())})
    seconds = time.monotonic() - started
    body = response.content.decode(errors="replace")
    return {"ok": True, "status": response.status_code, "seconds": seconds, "notebook": notebook_id,
            "body": json.loads(body) if response.get("Content-Type", "").startswith("application/json") else body[:2000]}


OPS = {"route": _route, "enqueue": _enqueue, "upload": _upload}


def main() -> None:
    import django

    django.setup()
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        try:
            answer = OPS[command["op"]](command)
        except Exception as exc:  # the test reads it; the client goes on
            traceback.print_exc()
            answer = {"ok": False, "crashed": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
