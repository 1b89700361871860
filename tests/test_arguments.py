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
