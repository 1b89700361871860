from django.apps import AppConfig


class TaskbridgeConfig(AppConfig):
    name = "taskbridge"
    verbose_name = "taskbridge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks, flags  # noqa: F401  (registers checks and flag signal handlers)

        post_migrate.connect(flags.ensure_queue_flags, sender=self)
