"""Run directories (runs/<task>/<name>-N/) and atomic file writes.

Every artefact is written to a temporary file in the same folder and renamed into place, so a
crash or a kill leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import FacesenseError


def temp_beside(path: Path, tag: str) -> Path:
    """A temp name beside `path` for this process, `.NAME.PID.HOST.TAG` (same folder, so the
    final rename is atomic). Temp files of exactly this form that a killed run on this host
    left for the same path (their process is gone) are removed first, so a rerun cleans up
    after a kill -9. Other hosts' (a shared filesystem) and other files are never touched."""
    host = host_name()
    ours = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.{re.escape(host)}\.(?:[0-9a-f]{{8}}\.tmp|tmp{re.escape(path.suffix)})$")
    for old in path.parent.glob(f".{glob.escape(path.name)}.*"):
        match = ours.match(old.name)
        if match and old.is_file() and not process_alive(int(match.group(1))):
            old.unlink(missing_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.{host}.{tag}")


def outside_dataset(out: Path, dataset: str | Path, option: str = "--out") -> Path:
    """An output folder inside a folder dataset would be read as data next time (a class named
    'report', or plots among the faces): refuse it before anything is written. Both paths are
    taken as given (the caller resolves relative ones)."""
    root = Path(dataset).resolve()
    if root.is_dir() and Path(out).resolve().is_relative_to(root):
        raise FacesenseError(f"{option} {out}: is inside the dataset folder {root}, where its files would be read as data; choose a folder outside it")
    return out


def host_name() -> str:
    """This machine's name as it may stand in a file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def process_alive(pid: int) -> bool:
    """Whether a process of this host has `pid`; when in doubt, alive (nothing is removed)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # someone else's process, or no valid pid
        return True
    return True


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique name in the same folder (same filesystem, so the rename is atomic); created by
    # the writer with the usual umask permissions, unlike mkstemp's 0600
    tmp_path = temp_beside(path, f"{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class RunDir:
    """Paths of every artefact of one run."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    labels = property(lambda self: self.root / "labels.json")
    split_manifest = property(lambda self: self.root / "split_manifest.csv")
    skipped = property(lambda self: self.root / "skipped.csv")
    history = property(lambda self: self.root / "history.csv")
    last_checkpoint = property(lambda self: self.root / "last.pt")
    best_checkpoint = property(lambda self: self.root / "best.pt")
    summary = property(lambda self: self.root / "train_summary.json")

    def eval_dir(self, split: str) -> Path:
        return self.root / f"eval_{split}"


def new_run_dir(runs_root: str | Path, task: str, name: str) -> RunDir:
    """Create a fresh runs_root/task/name-N (N = 1, 2, ...) without racing another process."""
    parent = Path(runs_root) / task
    parent.mkdir(parents=True, exist_ok=True)
    n = 1 + max(
        (int(p.name.rsplit("-", 1)[1]) for p in parent.glob(f"{name}-*") if p.name.rsplit("-", 1)[1].isdigit()),
        default=0,
    )
    while True:
        candidate = parent / f"{name}-{n}"
        try:
            candidate.mkdir()
            return RunDir(candidate)
        except FileExistsError:
            n += 1
