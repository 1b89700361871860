"""``python -m taskbridge.compare``: the same command without Django, for CI jobs and benchmarks."""

from __future__ import annotations

import argparse
import gc
import sys

from ..errors import CompareError
from .command import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskbridge.compare")
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        return run(options, sys.stdout.write)
    except CompareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    status = main()
    gc.freeze()  # exiting next: skip the interpreter's last collection over every object (see manage.py)
    sys.exit(status)
