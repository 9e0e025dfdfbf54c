"""The `facesense` command: a Ctrl-C while the CLI's modules load (tens of milliseconds, longer
on a cold disk) ends it with one line and exit 130, as a Ctrl-C during a command does, instead
of Python's traceback from inside an import."""

from __future__ import annotations

import signal
import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        from .errors import EXIT_INTERRUPTED

        print("interrupted before the command started; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return cli_main(argv)


def run() -> None:
    """The console script and `python -m facesense`: main(), then exit with its code. A second
    Ctrl-C while the process exits (in a library's exit hook, after the one-line message) printed
    Python's "Exception ignored in atexit callback" traceback: from here on it is ignored."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
