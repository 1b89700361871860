"""``manage.py taskbridge <subcommand>``: each subcommand is a module in ``taskbridge.cli``,
plus those each configured backend brings (``Backend.commands``) and any the project
names in ``TASKBRIDGE["COMMANDS"]`` (name -> module path), so a project can add its
own (the demo of this repository lives outside taskbridge).

Only the module of the subcommand being run is imported (``compare`` should not pay
for every backend's tooling before it reads a line); the listing of ``taskbridge
--help``, and ``call_command``, import them all. A name is looked up in the project's
``COMMANDS`` first, then in ``taskbridge.cli``, then in the backends' commands. A
subcommand module that sets ``requires_system_checks = False`` runs without Django's
system checks (a read-only command such as ``compare`` needs none of them).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

import taskbridge.cli
from taskbridge import conf

# BaseCommand options that take a value, so that a value is never taken for the subcommand's name
_VALUED_OPTIONS = frozenset({"--settings", "--pythonpath", "-v", "--verbosity"})


def _core_paths() -> dict[str, str]:
    return {
        info.name.replace("_", "-"): f"taskbridge.cli.{info.name}"
        for info in pkgutil.iter_modules(taskbridge.cli.__path__)
        if not info.name.startswith("_")
    }


def _backend_paths() -> dict[str, str]:
    from taskbridge.backends import all_backends  # imports every configured backend: only when a name needs it

    found: dict[str, str] = {}
    for backend in all_backends():
        found.update(backend.commands)
    return found


def _all_paths() -> dict[str, str]:
    return {**_backend_paths(), **_core_paths(), **conf.option("COMMANDS")}


def _path_of(name: str) -> str | None:
    """The module path of subcommand ``name``; the backends are imported only for a name neither core nor the project's."""
    return conf.option("COMMANDS").get(name) or _core_paths().get(name) or _backend_paths().get(name)


def _named(args: list[str]) -> str | None:
    """The subcommand named in ``args`` (what follows ``manage.py taskbridge``), if any."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _VALUED_OPTIONS:
            skip = True
        elif arg in ("-h", "--help"):
            return None
        elif not arg.startswith("-"):
            return arg
    return None


class Command(BaseCommand):
    help = "taskbridge operations; `manage.py taskbridge --help` lists the subcommands"

    _only: tuple[str, ModuleType] | None = None

    def run_from_argv(self, argv: list[str]) -> None:
        name = _named(argv[2:])
        path = None if name is None else _path_of(name)
        if path is not None:
            self._only = (name, importlib.import_module(path))  # type: ignore[assignment]
        super().run_from_argv(argv)

    def _modules(self) -> dict[str, ModuleType]:
        if self._only is not None:
            return dict([self._only])
        return {name: importlib.import_module(path) for name, path in _all_paths().items()}

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", required=True, parser_class=type(parser))
        self._loaded = self._modules()
        for name, module in sorted(self._loaded.items()):
            sub = subparsers.add_parser(name, help=module.__doc__.strip().splitlines()[0].replace("%", "%%"), called_from_command_line=getattr(parser, "called_from_command_line", None))
            module.add_arguments(sub)

    def execute(self, *args: Any, **options: Any) -> Any:
        module = self._loaded[options["subcommand"]]
        if not getattr(module, "requires_system_checks", True):
            options["skip_checks"] = True
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> Any:
        return self._loaded[options["subcommand"]].handle(self, options)
