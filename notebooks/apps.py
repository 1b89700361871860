from django.apps import AppConfig


class Config(AppConfig):
    name = "notebooks"
    default_auto_field = "django.db.models.BigAutoField"
