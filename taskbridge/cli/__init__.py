"""Subcommands of ``manage.py taskbridge``. Each module defines a docstring
(its help line), ``add_arguments(parser)`` and ``handle(command, options)``."""
