"""Settings for the drain benchmark's workers: the dev settings, with the benchmark's tasks
found by both workers' autodiscovery (``benchmarks`` as an installed app)."""

from backend.settings.dev import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "benchmarks"]  # noqa: F405
