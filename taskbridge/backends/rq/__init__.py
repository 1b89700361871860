"""The RQ backend: :mod:`.backend` (client side), :mod:`.worker` (django-rq's job and worker
classes), :mod:`.config` (``RQ_QUEUES`` from ``TASKBRIDGE``), :mod:`.periodic` and the
``scheduler`` / ``schedule-sync`` subcommands (rq-scheduler)."""
