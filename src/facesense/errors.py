"""User-facing errors: the CLI prints their message on one line (no traceback) and exits with
the error's `exit_code`: 2 for input the user can fix, 3 for a source that failed mid-run.

Exit codes (docs/exit-codes.md): 0 done, 2 bad input or usage, 3 the source failed after the
run started (outputs up to the failure are complete), 130 interrupted (Ctrl-C), 141 stdout closed
early (e.g. `| head`), 143 terminated (SIGTERM: outputs finished as after a Ctrl-C).
"""

import functools
import logging

EXIT_BAD_INPUT = 2
EXIT_SOURCE_FAILED = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143

# the modules of the optional extras, by which a ModuleNotFoundError is said as the extra it needs
TRAINING_MODULES = ("torch", "kornia", "onnx", "torchvision")  # the `train` extra
EVAL_MODULES = ("sklearn", "scipy")  # the `eval` extra: metrics, splits, statistics


class FacesenseError(Exception):
    """Something the user can fix: bad input, bad config, missing file. The message says how."""

    exit_code = EXIT_BAD_INPUT


class DataError(FacesenseError):
    """A dataset, file or row that cannot be used as given."""


class ConfigError(FacesenseError):
    """A config file or key=value override that is not valid."""


class OutputError(FacesenseError):
    """An output that could not be written (a full disk, a name too long): the message names
    the output and the fix; `path` is that output, `cause` the OSError (when one was met)."""

    path = None
    cause = None


class SourceFailed(FacesenseError):
    """A camera or stream that stalled or disappeared after frames had been processed: the
    outputs hold everything up to the failure."""

    exit_code = EXIT_SOURCE_FAILED


@functools.lru_cache(maxsize=None)
def say_once(logger: str, level: int, message: str, *args) -> None:
    """A note said once per process however often the code reaching it runs (a command reads a
    run's checkpoint, or lists a photo folder, more than once)."""
    logging.getLogger(logger).log(level, message, *args)


def plain_number(x: float) -> str:
    """A number as people write it: 12345, 123.45, 0.05 (never 1.234e+04)."""
    import numpy as np

    return np.format_float_positional(x, trim="-")


def over_limit(value: float, limit: float) -> tuple[str, str]:
    """`value` and the `limit` it exceeds, written with as many digits as it takes to tell them
    apart ("30.04" and "30", not "30.0" and "30")."""
    import numpy as np

    def plain(x: float, digits: int) -> str:  # never "2.5e+02", and every digit before the point: "254", not "250"
        return np.format_float_positional(x, precision=max(digits, len(str(int(abs(x))))), unique=False, fractional=False, trim="-")

    for digits in range(2, 12):  # significant digits
        shown, shown_limit = plain(value, digits), plain(limit, digits)
        if shown != shown_limit:
            return shown, shown_limit
    return plain(value, 12), plain(limit, 12)
