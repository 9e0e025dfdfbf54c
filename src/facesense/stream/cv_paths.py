"""File names for OpenCV's video reader and writer. Its FFmpeg back end takes UTF-8 text, and a
name that is not (Latin-1 bytes from an old camera or a zip, which Python keeps as surrogates)
crashed the whole process: such a file is reached through a link with a plain name."""

from __future__ import annotations

import tempfile
from pathlib import Path


class OpenCVName:
    """`name`: the path itself where OpenCV can take it, else a link to it in a temporary folder,
    kept until close(). A link to a file not yet there serves a writer: it creates the file."""

    def __init__(self, path: str | Path):
        path = Path(path)
        self._folder: tempfile.TemporaryDirectory | None = None
        self.name = str(path)
        try:
            self.name.encode("utf-8")
            return
        except UnicodeEncodeError:
            pass
        self._folder = tempfile.TemporaryDirectory(prefix="facesense-")
        suffix = path.suffix if path.suffix.isascii() else ""  # the writer picks its container by it
        link = Path(self._folder.name) / f"file{suffix}"
        link.symlink_to(path.absolute())
        self.name = str(link)

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
