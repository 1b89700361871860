import math

import pytest

from taskbridge.arguments import ArgumentError, validate


@pytest.mark.parametrize(
    "args,kwargs,path",
    [
        ((b"raw",), {}, "args[0]"),
        ((), {"config": {"depth": {1, 2}}}, "config['depth']"),
        ((), {"items": [1, (2, 3)]}, "items[1]"),
        ((), {"mapping": {1: "a"}}, "mapping[1]"),
        ((math.nan,), {}, "args[0]"),
        ((object(),), {}, "args[0]"),
    ],
)
def test_bad_argument_names_task_and_path(args, kwargs, path):
    with pytest.raises(ArgumentError) as caught:
        validate("notebooks.tasks.process_url_task", args, kwargs)
    assert caught.value.path == path
    assert "notebooks.tasks.process_url_task" in str(caught.value)
    assert path in str(caught.value)


def test_bytes_error_says_what_to_do():
    with pytest.raises(ArgumentError, match="store the bytes first"):
        validate("t", (b"x",), {})


def test_json_values_pass():
    validate("t", (None, True, 1, 1.5, "s", [1, {"a": [None]}]), {"config": {"nested": {"list": [1, 2.0, "x"]}}})


def test_arguments_over_the_size_limit_are_refused_naming_the_largest():
    with pytest.raises(ArgumentError) as caught:
        validate("reports.tasks.generate", ("small",), {"blob": "x" * (10 * 1024 * 1024)})
    assert caught.value.path == "blob"
    assert "MAX_ARGUMENT_BYTES" in str(caught.value) and "pass a key" in str(caught.value)


def test_the_size_limit_is_configurable_and_counts_all_arguments(settings):
    settings.TASKBRIDGE = {**settings.TASKBRIDGE, "MAX_ARGUMENT_BYTES": 100}
    validate("t", ("x" * 40,), {"y": "y" * 40})  # 42 + 42 bytes as JSON
    with pytest.raises(ArgumentError, match="all arguments 106"):
        validate("t", ("x" * 40,), {"y": "y" * 62})
    with pytest.raises(ArgumentError):
        validate("t", ("é" * 60,), {})  # counted in UTF-8 bytes, not characters


def test_an_oversized_argument_is_refused_at_dispatch_and_nothing_is_enqueued(redis_conn):
    from notebooks.tasks import process_url_task

    keys = redis_conn.dbsize()
    with pytest.raises(ArgumentError, match="args\\[0\\]"):
        process_url_task.enqueue("https://example.org/" + "a" * (10 * 1024 * 1024), 1, 1)
    assert redis_conn.dbsize() == keys
