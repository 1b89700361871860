"""Run the staged Celery → RQ cutover of the reference workload (in progress)."""


def add_arguments(parser):
    pass


def handle(command, options):
    raise SystemExit("the demo is being built")
