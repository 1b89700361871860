"""``manage.py taskbridge <subcommand>``: each subcommand is a module in ``taskbridge.cli``,
plus those each configured backend brings (``Backend.commands``) and any the project
names in ``TASKBRIDGE["COMMANDS"]`` (name -> module path), so a project can add its
own (the demo of this repository lives outside taskbridge)."""

import importlib
import pkgutil
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

import taskbridge.cli
from taskbridge import conf
from taskbridge.backends import all_backends


def _subcommands() -> dict[str, Any]:
    found = {
        info.name.replace("_", "-"): importlib.import_module(f"taskbridge.cli.{info.name}")
        for info in pkgutil.iter_modules(taskbridge.cli.__path__)
        if not info.name.startswith("_")
    }
    for backend in all_backends():
        for name, path in backend.commands.items():
            found[name] = importlib.import_module(path)
    for name, path in conf.option("COMMANDS").items():
        found[name] = importlib.import_module(path)
    return found


class Command(BaseCommand):
    help = "taskbridge operations: " + ", ".join(sorted(_subcommands()))

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", required=True, parser_class=type(parser))
        for name, module in sorted(_subcommands().items()):
            sub = subparsers.add_parser(name, help=module.__doc__.strip().splitlines()[0], called_from_command_line=getattr(parser, "called_from_command_line", None))
            module.add_arguments(sub)

    def handle(self, *args: Any, **options: Any) -> Any:
        return _subcommands()[options["subcommand"]].handle(self, options)
