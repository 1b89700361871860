#!/usr/bin/env python
import gc
import os
import sys


def default_settings(argv: list[str]) -> str:
    """Production unless DJANGO_SETTINGS_MODULE says otherwise, so a forgotten variable never
    means DEBUG and a public key; the demo runs with its own loopback-only settings."""
    return "backend.demo.settings" if argv[1:3] == ["taskbridge", "demo"] else "backend.settings.prod"


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings(sys.argv))
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
    # The command is done and the process exits next: skip the interpreter's last collection
    # over every object (about 0.1 s with Django, Celery and redis-py loaded); the OS frees the memory.
    gc.freeze()
