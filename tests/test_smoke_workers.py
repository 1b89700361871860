import pytest

from tests.conftest import set_route
from tests.taskapp import tasks


@pytest.mark.integration
@pytest.mark.parametrize("everyone,backend", [(False, "celery"), (True, "rq")])
def test_task_runs_on_routed_backend(transactional_db, workers, event_log, everyone, backend):
    set_route("default", everyone=everyone)
    handle = tasks.add.enqueue(2, 3)
    assert handle.backend == backend
    assert handle.result(timeout=20) == 5
    events = event_log.wait_for_terminal(handle.job_id)
    assert [e["event"] for e in events][-1] == "task.succeeded"
    assert {e["backend"] for e in events} == {backend}
