"""Holding a Ctrl-C back while a unit of work that must not be split finishes."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def interrupts_held() -> Iterator[None]:
    """A SIGINT or SIGTERM that arrives inside the block is acted on when the block ends, by the
    handler it would have reached (Python's Ctrl-C, or the CLI's SIGTERM, raise KeyboardInterrupt);
    a second one acts at once, so a write that hangs can still be stopped. A frame's outputs are
    written in such a block: a Ctrl-C between the annotated video's packets lost a frame from the
    video and left the log one frame short of it. Only Python-level handlers in the main thread
    are held (signals reach no other thread); a block that raises keeps its own error."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {sig: handler for sig in (signal.SIGINT, signal.SIGTERM) if callable(handler := signal.getsignal(sig))}

    def hold(signum, frame):
        if caught:  # the second: now
            held[signum](signum, frame)
        caught.append(signum)

    for sig in held:
        signal.signal(sig, hold)
    try:
        yield
    finally:
        _restore(list(held.items()))
    # a SIGTERM among them is the one acted on: the CLI then exits 143, as terminated
    for sig in sorted(set(caught), key=lambda s: s != signal.SIGTERM):
        held[sig](sig, None)


def _restore(handlers: list) -> None:
    """Every handler put back, even when a signal taken by one already restored raises."""
    if handlers:
        try:
            signal.signal(*handlers[0])
        finally:
            _restore(handlers[1:])
