"""Writing a matplotlib figure as a PNG, whole or not at all, for every plot the toolkit draws."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

from .runs import atomic_path

log = logging.getLogger(__name__)


def save_png(fig, path: Path) -> Path:
    """The figure at `path` (written under a temporary name, then renamed). Characters the plot's
    font lacks (class names in Japanese with only DejaVu Sans at hand) are said in one line,
    instead of one matplotlib warning per character and drawing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=r"Glyph \d+ .* missing from")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    missing = sorted({chr(int(m.group(1))) for w in caught if (m := re.match(r"Glyph (\d+) ", str(w.message)))})
    for w in caught:  # anything else still reaches the user, as it would have
        if not re.match(r"Glyph \d+ ", str(w.message)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        log.warning("%s: the plot's font has no glyph for %s in its labels: they are drawn as boxes", Path(path).name, " ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
    return path
