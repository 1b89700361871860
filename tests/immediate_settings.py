"""The test settings with the in-process ``immediate`` backend as both baseline and candidate:
the reference workload runs its jobs inside the dispatching process, no workers."""

from backend.settings.test import *  # noqa: F403

TASKBRIDGE = {  # noqa: F405
    **TASKBRIDGE,  # noqa: F405
    "BACKENDS": {"immediate": {"BACKEND": "taskbridge.backends.immediate.ImmediateBackend"}},
    "BASELINE": "immediate",
    "CANDIDATE": "immediate",
}
