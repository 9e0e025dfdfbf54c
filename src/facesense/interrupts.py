"""Holding a Ctrl-C back while a unit of work that must not be split finishes."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def interrupts_held() -> Iterator[None]:
    """A SIGINT or SIGTERM that arrives inside the block is acted on when the block ends, by the
    handler it would have reached (Python's Ctrl-C, or the CLI's SIGTERM, raise KeyboardInterrupt).
    A frame's outputs are written in such a block: a Ctrl-C between the annotated video's
    packets lost a frame from the video and left the log one frame short of it. Only Python-level
    handlers in the main thread are held (signals reach no other thread); a block that raises
    keeps its own error."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):
            held[sig] = handler
            signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
    if caught:
        held[caught[0]](caught[0], None)
