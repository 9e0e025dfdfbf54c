"""The `facesense` command: a Ctrl-C while the CLI's modules load (tens of milliseconds, longer
on a cold disk) ends it with one line and exit 130, as a Ctrl-C during a command does, instead
of Python's traceback from inside an import."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        from .errors import EXIT_INTERRUPTED

        print("interrupted before the command started; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return cli_main(argv)
