"""The one rule for task arguments, applied at dispatch for both backends.

Both backends carry JSON, so an argument is valid when it is a JSON value:
``None``, ``bool``, ``int``, finite ``float``, ``str``, and lists / dicts of
those with string keys. Tuples are refused rather than silently turned into
lists, because the task would receive a different type from the one passed.

Arguments are also capped in size (``TASKBRIDGE["MAX_ARGUMENT_BYTES"]``): every
byte sits in Redis until the job ends and is copied into each retry, event
and dashboard view, so large data belongs in storage, passed by key.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from . import conf
from .errors import ArgumentError

_SCALARS = (str, bool, int, type(None))


def _check(value: Any, path: str, task_name: str) -> None:
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ArgumentError(task_name, path, f"is {value!r}, which JSON cannot carry")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", task_name)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ArgumentError(task_name, f"{path}[{key!r}]", f"has a {type(key).__name__} key; JSON keys are strings")
            _check(item, f"{path}[{key!r}]", task_name)
        return
    hint = " (store the bytes first and pass a key)" if isinstance(value, (bytes, bytearray, memoryview)) else ""
    raise ArgumentError(task_name, path, f"is a {type(value).__name__}, not a JSON value{hint}")


def _check_size(task_name: str, named: list[tuple[str, Any]]) -> None:
    limit = conf.option("MAX_ARGUMENT_BYTES")
    # One serialisation for the common case; the list's brackets and commas are not arguments.
    total = len(orjson.dumps([value for _, value in named])) - 2 - max(len(named) - 1, 0)
    if total > limit:
        size, path = max((len(orjson.dumps(value)), path) for path, value in named)
        raise ArgumentError(
            task_name, path,
            f"is {size} bytes as JSON (all arguments {total}), over TASKBRIDGE['MAX_ARGUMENT_BYTES'] = {limit}; "
            "store large data first and pass a key",
        )


def validate(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raise :class:`ArgumentError` naming the first argument that is not JSON, or the largest when they are too large."""
    named = [(f"args[{index}]", value) for index, value in enumerate(args)] + list(kwargs.items())
    for path, value in named:
        _check(value, path, task_name)
    _check_size(task_name, named)


def validate_result(task_name: str, result: Any) -> None:
    """A task's return value travels as JSON too."""
    try:
        _check(result, "(return value)", task_name)
    except ArgumentError as exc:
        raise TypeError(f"{task_name}: its return value {exc.problem}") from None
