from django.apps import AppConfig


class TaskAppConfig(AppConfig):
    """Tasks used only by the test suite; installed by backend.settings.test."""

    name = "tests.taskapp"
    label = "taskapp"
