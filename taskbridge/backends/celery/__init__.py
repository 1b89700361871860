"""The Celery backend: :mod:`.backend` (client side), :mod:`.worker` (tasks and signals in
Celery's processes), :mod:`.config` (the app's configuration from ``TASKBRIDGE``),
:mod:`.transport` (the record rides with the publish) and :mod:`.periodic` (beat)."""
