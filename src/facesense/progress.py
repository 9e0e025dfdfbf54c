"""A log line now and then through a long step that would otherwise be silent (reading 13,642
images and scoring them took 17 s with no word)."""

from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger(__name__)

EVERY_S = 5.0


class Progress:
    """Call with the number of items just done; logs "TITLE: UNITN of M (P%), S s so far, about
    L s left" at most every `every_s` seconds, and nothing for a step shorter than that (`unit`:
    "batch " reads "batch 3 of 10")."""

    def __init__(self, title: str, total: int, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic, unit: str = ""):
        self.title, self.total, self.every_s, self.clock, self.unit = title, total, every_s, clock, unit
        self.done = 0
        self.start = self.last = clock()

    def __call__(self, count: int = 1) -> None:
        self.done += count
        now = self.clock()
        if now - self.last >= self.every_s and 0 < self.done < self.total:
            self.last = now
            spent = now - self.start
            log.info("%s: %s%d of %d (%.0f%%), %.0f s so far, about %.0f s left", self.title, self.unit, self.done, self.total,
                     100 * self.done / self.total, spent, spent / self.done * (self.total - self.done))
