from django.apps import AppConfig


class Config(AppConfig):
    name = "podcast"
    default_auto_field = "django.db.models.BigAutoField"
