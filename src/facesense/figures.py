"""Writing a matplotlib figure as a PNG, whole or not at all, for every plot the toolkit draws."""

from __future__ import annotations

import logging
import re
import threading
import warnings
from pathlib import Path

from .runs import atomic_path

log = logging.getLogger(__name__)
GLYPH_WARNING = r"Glyph \d+ "  # matplotlib's "Glyph 26085 (...) missing from font(s) DejaVu Sans."
# warnings.catch_warnings swaps process-wide state: two at once on two threads (the web app's
# video jobs and recordings draw timelines) could leave a warning catcher installed for good
_CATCHING = threading.Lock()


def save_png(fig, path: Path, tight: bool = False) -> Path:
    """The figure at `path` (written under a temporary name, then renamed), after
    `tight_layout` if asked. Characters its fonts lack (class names in Japanese with only
    DejaVu Sans at hand) are said in one line, instead of one matplotlib warning per character
    and drawing; a figure without any draws with the warnings machinery untouched."""
    if not _may_lack_glyphs(fig):
        return _draw(fig, path, tight)
    with _CATCHING, warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=GLYPH_WARNING)
        _draw(fig, path, tight)
    missing = sorted({chr(int(m.group(1))) for w in caught if (m := re.match(r"Glyph (\d+) ", str(w.message)))})
    for w in caught:  # anything else still reaches the user, as it would have
        if not re.match(GLYPH_WARNING, str(w.message)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        log.warning("%s: the plot's font has no glyph for %s in its labels: they are drawn as boxes", Path(path).name, " ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
    return path


def _draw(fig, path: Path, tight: bool) -> Path:
    if tight:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _may_lack_glyphs(fig) -> bool:
    """Whether some text of the figure has a character outside its font's character map (only
    texts beyond ASCII are looked at: every font has those)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font
    from matplotlib.text import Text

    charmaps: dict[str, set[int]] = {}
    for text in fig.findobj(Text):
        content = text.get_text()
        if content.isascii():
            continue
        font = font_manager.findfont(text.get_fontproperties())
        if font not in charmaps:
            charmaps[font] = set(FT2Font(font).get_charmap())
        if any(ord(c) not in charmaps[font] for c in content if not c.isspace()):
            return True
    return False
