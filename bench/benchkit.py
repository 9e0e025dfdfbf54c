"""What the bench scripts share: a measurement in a fresh process that cannot hang its parent,
and a user's mistake (a model that is not there, an unknown detector) told in one line with
exit 2, as the facesense command tells it, not a traceback."""

from __future__ import annotations

import multiprocessing as mp
import platform
import queue as queues
import sys
from typing import Callable

from facesense.errors import FacesenseError


def cpu_name() -> str:
    """The CPU's model name, for a bench's machine line (platform.processor() is empty on Linux)."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def run(main: Callable[[], int | None]) -> None:
    """Run a bench script's main(); a FacesenseError is one `error:` line and exit 2."""
    try:
        code = main()
    except FacesenseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code or 0)


def _child(target: Callable, args: tuple, results) -> None:
    try:
        results.put((True, target(*args)))
    except FacesenseError as exc:  # its line reaches the parent, which exits 2 with it
        results.put((False, str(exc)))


def in_fresh_process(target: Callable, *args):
    """target(*args) in a fresh (spawned) process, so that each measurement starts with nothing
    loaded or cached; -> its result. A FacesenseError there raises here; a process that dies
    without a result (a crash, a kill) is said in one line, instead of the parent waiting for
    its result for ever."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, results))
    proc.start()
    try:
        while True:
            try:
                ok, value = results.get(timeout=1.0)
                break
            except queues.Empty:
                if not proc.is_alive() and results.empty():
                    killed = (proc.exitcode or 0) < 0  # (a SIGKILL prints nothing of its own)
                    raise FacesenseError(f"the measurement's process {'was killed (signal ' + str(-proc.exitcode) + ')' if killed else f'ended (exit code {proc.exitcode})'} "
                                         f"before it gave a result{'' if killed else '; its error is printed above'}") from None
    finally:
        proc.join(timeout=30)
    if not ok:
        raise FacesenseError(value)
    return value
