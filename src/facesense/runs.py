"""Run directories (runs/<task>/<name>-N/) and atomic file writes.

Every artefact is written to a temporary file in the same folder and renamed into place, so a
crash or a kill leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import FacesenseError, OutputError
from .schema import KEY

log = logging.getLogger(__name__)


def temp_beside(path: Path, tag: str) -> Path:
    """A temp name beside `path` for this process, `.NAME.PID.HOST.TAG` (same folder, so the
    final rename is atomic). Temp files of exactly this form that a killed run on this host
    left for the same path are removed first (`remove_stale_temps`)."""
    remove_stale_temps(path)
    return path.with_name(f".{_short_name(path.name)}.{os.getpid()}.{host_name()}.{tag}")


def remove_stale_temps(path: Path) -> None:
    """Remove the temp files a killed process of this host left for `path` (their process is
    gone), so a rerun cleans up after a kill -9. Other hosts' (a shared filesystem), live
    processes' and other files are never touched."""
    name = _short_name(path.name)
    _remove_dead_temps(path.parent, f".{glob.escape(name)}.*", re.escape(name), re.escape(path.suffix))


def remove_stale_temps_in(folder: Path) -> None:
    """`remove_stale_temps` for every file of `folder`: a killed run's temp files of outputs that
    the next run into the same folder does not ask for (another --out name) would stay otherwise."""
    if folder.is_dir():
        _remove_dead_temps(folder, ".*", ".+", r"(?:\.[^.]*)?")


def _remove_dead_temps(folder: Path, pattern: str, name: str, suffix: str) -> None:
    """Remove `folder`'s temp files (`temp_beside` names matching the glob `pattern`, with the
    regexes `name` and `suffix` for the output's name and suffix) whose process on this host is gone."""
    ours = re.compile(rf"^\.{name}\.(\d+)\.{re.escape(host_name())}\.(?:[0-9a-f]{{8}}\.tmp(dir)?|tmp{suffix})$")
    for old in folder.glob(pattern):
        match = ours.match(old.name)
        if not match or process_alive(int(match.group(1))):
            continue
        if match.group(2) and old.is_dir() and not old.is_symlink():  # a folder being built (`temp_folder_beside`)
            shutil.rmtree(old, ignore_errors=True)
        elif not match.group(2) and old.is_file():
            old.unlink(missing_ok=True)


def _short_name(name: str, limit: int = 120) -> str:
    """`name` as the start of a temp name: a long one (up to the 255 bytes a file system allows)
    would push its temp name past that limit, so it is cut and a hash of the whole keeps it apart."""
    data = name.encode("utf-8", "surrogateescape")
    if len(data) <= limit:
        return name
    return f"{data[:limit - 9].decode('utf-8', 'ignore')}~{hashlib.sha1(data).hexdigest()[:8]}"


# the errors of a write that the place, not the file written, causes: full, over quota or a
# size limit, read-only
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
# what fsync raises on a file system that cannot sync a file (flush_to_disk): no write error
NO_SYNC_ERRNOS = (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)


def write_problem(exc: OSError) -> str:
    """What went wrong writing a file, and the fix, in the user's words."""
    return {
        errno.ENOSPC: "the disk is full; free space or choose another place",
        errno.EDQUOT: "the disk quota is used up; free space or choose another place",
        errno.EFBIG: "the file is larger than this system allows; choose another place",
        errno.ENAMETOOLONG: "the file name is too long; choose a shorter one",
        errno.EROFS: "the file system is read-only; choose another place",
        errno.EACCES: "permission denied; choose another place",
    }.get(exc.errno, f"{exc.strerror or exc}; choose another place")


def write_failure(path: str | Path, exc: OSError) -> OutputError:
    """An OSError met while writing `path` (or its temp file) as one line naming `path`, the
    name the user gave, and the fix."""
    error = OutputError(f"{path}: cannot be written: {write_problem(exc)}")
    error.path, error.cause = Path(path), exc
    return error


def temp_folder_beside(path: Path) -> Path:
    """A new, empty folder beside `path` to build its contents in before renaming them into
    place; folders that killed runs of this host left for the same path are removed first."""
    path = Path(os.path.abspath(path))  # Path('.') has no name to put in the temp folder's
    folder = temp_beside(path, f"{uuid.uuid4().hex[:8]}.tmpdir")
    folder.mkdir(parents=True)
    return folder


def outside_dataset(out: Path, dataset: str | Path, option: str = "--out") -> Path:
    """An output folder inside a folder dataset would be read as data next time (a class named
    'report', or plots among the faces): refuse it before anything is written. A labels.csv
    given as a file is read through its rows alone, so its folder may hold outputs. Both paths
    are taken as given (the caller resolves relative ones)."""
    root = Path(dataset).resolve()
    if root.is_dir() and Path(out).resolve().is_relative_to(root):
        how = " with --out DIR" if option.startswith("the default") else ""  # the user gave no option to change
        raise FacesenseError(f"{option} {out}: is inside the dataset folder {root}, where its files would be read as data; choose a folder outside it{how}")
    return out


def outside_runs(out: Path, option: str = "--out") -> Path:
    """An evaluation written into a training run's own reports (eval_val/, eval_test/) replaced
    them, and compare then read another model's figures as the run's: refuse those folders and
    the run's root. A folder of its own inside a run (RUN/eval_on_fer) is the user's to keep."""
    out_path = Path(out).resolve()
    for folder in (out_path, *out_path.parents):
        run = RunDir(folder)
        if run.config.is_file() and any(p.is_file() for p in (run.best_checkpoint, run.last_checkpoint, run.summary)):
            reports = [run.eval_dir(split) for split in ("val", "test")]
            if out_path == run.root or any(out_path.is_relative_to(r) for r in reports):
                raise FacesenseError(f"{option} {out}: is the training run {folder} or one of its own reports, which the evaluation would replace; "
                                     f"write it elsewhere (a new folder inside the run, such as {folder / 'eval_other'}, is fine)")
            return out
    return out


def host_name() -> str:
    """This machine's name as it may stand in a file name, with its process-id namespace where
    the system has one: a container sharing the host's name (docker --network host) numbers its
    processes apart, and must not take the host's live ones for dead."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
    try:
        return f"{name}-{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return name


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
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet (Linux): it writes nothing any more."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


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
        flush_to_disk(tmp_path)
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.filename not in (None, str(tmp_path), str(path)):
            raise  # a file the writer read, not this one
        raise write_failure(path, exc) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def flush_to_disk(path: Path) -> None:
    """The file's bytes on the disk before it is renamed into place: a rename can reach the disk
    before the data it names (XFS; ext4 for a file that replaces none, such as a run's first
    best.pt), so a power cut left an empty or partial file under the final name, which the
    renaming was meant to rule out (docs/exit-codes.md)."""
    if path.is_file():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError as exc:
            # a file system that cannot sync (EINVAL where it has no fsync: vboxsf, some FUSE and
            # network mounts): the rename is all it offers, as before; a write error (EIO, ENOSPC) is one
            if exc.errno not in NO_SYNC_ERRNOS:
                raise
        finally:
            os.close(fd)


def retire(*paths: Path) -> None:
    """Remove the files that mark a set of outputs complete (a summary, metrics.json) before the
    set is replaced; they are written again last, so a kill in between leaves no marker beside
    a mix of old and new files."""
    for path in paths:
        path.unlink(missing_ok=True)


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and those above it that do not exist yet, innermost first: the folders a
    mkdir(parents=True) of it would make, to remove (remove_empty) if what they were made for
    never comes."""
    folder = Path(os.path.abspath(folder))
    return [p for p in (folder, *folder.parents) if not p.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Remove these folders, innermost first, where they are still empty."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextmanager
def scratch_folder_beside(path: Path) -> Iterator[Path]:
    """A temp folder beside `path` for work files (where a rerun after a kill removes them),
    removed on the way out with any folders made for it; a place where it cannot be made is
    named as `path`, the name the user gave."""
    made = missing_folders(Path(path).parent)
    folder = None
    try:
        try:
            folder = temp_folder_beside(path)
        except OSError as exc:
            raise write_failure(path, exc) from None
        yield folder
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        remove_empty(made)


@contextmanager
def building(out_dir: Path, last: str, owned: tuple[str, ...] = (), replaces: tuple[str, tuple[str, ...]] | None = None) -> Iterator[Path]:
    """A set of files (a report and its plots) written into a hidden folder inside `out_dir`,
    then moved out of it: an interrupted rerun leaves the earlier set whole, and `last`, the file
    that marks the set complete, is removed before the moves and moved in last, so a kill during
    them leaves no marker beside a mix of two sets. Files named in `owned` that the new set
    lacks (a plot the earlier report had) go too. `replaces`: (marker, files) of another kind of
    set that one folder holds instead of this one; its files go where its marker is there and is
    facesense's (a JSON marker with its schema_version), so a user's own files that only share
    its names are left alone. Inside `out_dir`, the moves stay on one filesystem and the files
    get the folder's group and permissions."""
    made = missing_folders(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    build, complete = None, False
    try:
        try:
            build = temp_folder_beside(out_dir / last)
            yield build
        except OutputError as exc:  # a file of the set that could not be written: named as the user will see it, not by its place in the build
            if exc.path is None or build is None or not Path(exc.path).is_relative_to(build):
                raise
            raise write_failure(out_dir / Path(exc.path).relative_to(build), exc.cause) from None
        except OSError as exc:
            if exc.errno not in WRITE_ERRNOS:
                raise
            raise write_failure(out_dir, exc) from None
        # (as atomic_path: on the disk before its name is) all of them before the earlier set's
        # marker goes, so a sync that fails (EIO) leaves that set whole, not half replaced
        for path in build.iterdir():
            try:
                flush_to_disk(path)
            except OSError as exc:
                raise write_failure(out_dir / path.name, exc) from None
        stale = [*owned, *(replaces[1] if replaces and _written_by_us(out_dir / replaces[0]) else ())]
        retire(out_dir / last, *(out_dir / name for name in stale if not (build / name).exists()))
        for path in sorted(build.iterdir(), key=lambda p: p.name == last):
            os.replace(path, out_dir / path.name)
        complete = True
    finally:
        if build is not None:
            shutil.rmtree(build, ignore_errors=True)
        if not complete:  # folders made for a set that never came are not left behind, empty
            remove_empty(made)


def _written_by_us(marker: Path) -> bool:
    """Whether this JSON marker of a set of outputs is there and is facesense's: its
    schema_version is one of ours, a whole number."""
    try:
        record = json.loads(marker.read_bytes())
    except (OSError, ValueError, RecursionError):  # absent, unreadable or not JSON
        return False
    return isinstance(record, dict) and type(record.get(KEY)) is int


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# held by the process training a run (training_lock); left in place, since removing a lock
# file lets two processes each lock a file of that name
LOCK_NAME = ".training.lock"


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

    def has_checkpoint(self) -> bool:
        """Whether the folder holds a run's checkpoint (best.pt or last.pt): a run, not a folder of runs."""
        return self.best_checkpoint.is_file() or self.last_checkpoint.is_file()


@contextmanager
def training_lock(run: RunDir) -> Iterator[None]:
    """Held while a process trains the run: a second process resuming a run that is still
    training would write its checkpoints from another trajectory. An advisory lock on the run's
    `.training.lock` file (a regular file: network file systems lock those, not folders), which
    the system drops when the process ends, however it ends."""
    try:
        import fcntl
    except ImportError:  # Windows
        log.warning("%s: this system has no file locks; nothing stops a second process from training this run at the same time", run.root)
        yield
        return
    try:
        fd = os.open(run.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only run folder: this process cannot write its checkpoints either
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FacesenseError(f"{run.root}: another process is training this run now; wait for it to finish, or stop it and resume") from None
        except OSError as exc:  # a file system without locks (ENOLCK on some network mounts)
            log.warning("%s: cannot lock this run (%s); nothing stops a second process from training it at the same time", run.root, exc.strerror)
        yield
    finally:
        os.close(fd)


def being_trained(run: RunDir) -> bool | None:
    """Whether another process holds the run's training lock now; None where that cannot be
    known (no file locks here, or a run folder from before the lock)."""
    try:
        import fcntl

        fd = os.open(run.root / LOCK_NAME, os.O_RDONLY)
    except (ImportError, OSError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:  # a file system without locks
        return None
    finally:
        os.close(fd)  # closing drops the shared lock taken to look


def new_run_dir(runs_root: str | Path, task: str, name: str) -> RunDir:
    """Create a fresh runs_root/task/name-N (N = 1, 2, ...) without racing another process."""
    parent = Path(runs_root) / task
    parent.mkdir(parents=True, exist_ok=True)
    n = 1 + max((int(p.name.rsplit("-", 1)[1]) for p in _numbered(parent, name)), default=0)
    while True:
        candidate = parent / f"{name}-{n}"
        try:
            candidate.mkdir()
            return RunDir(candidate)
        except FileExistsError:
            n += 1


def unfinished_runs(runs_root: str | Path, task: str, name: str) -> list[RunDir]:
    """Earlier runs name-N with a checkpoint and no summary: killed (or still training in
    another process), each one `--resume` away from finishing."""
    found = [RunDir(p) for p in _numbered(Path(runs_root) / task, name)]
    return sorted((r for r in found if r.last_checkpoint.is_file() and not r.summary.is_file()), key=lambda r: int(r.root.name.rsplit("-", 1)[1]))


def resume_command(root: Path) -> str:
    """The command that continues a stopped run, its folder quoted for the shell."""
    return f"facesense train --resume {shlex.quote(str(root))}"


def train_longer_command(root: Path, epochs: str = "N") -> str:
    """The command that trains a run longer as a new run from its weights (a finished run, or one
    whose schedule spans the epochs it started with), quoted for the shell."""
    run = RunDir(root)
    return f"facesense train {shlex.quote(str(run.config))} {shlex.quote(f'init_from={run.best_checkpoint}')} epochs={shlex.quote(epochs)}"


def _numbered(parent: Path, name: str) -> list[Path]:
    """The folders name-1, name-2, ... under `parent` (not x-y-1 for name x)."""
    return [p for p in parent.glob(f"{glob.escape(name)}-*") if p.name.rsplit("-", 1)[0] == name and p.name.rsplit("-", 1)[1].isdecimal()]


def unfinished_run(model: str | Path) -> tuple[Path, str] | None:
    """(the run folder, "is still being trained" or "is not finished (finish it with ...)") for a
    run folder or one of its checkpoints whose training has not reached its end; None for a
    finished run or anything else (a shipped name, an .onnx: the working folder is no run of
    theirs)."""
    path = Path(model)
    if not (path.is_dir() or (path.suffix == ".pt" and path.is_file())):
        return None
    root = path if path.is_dir() else path.parent
    run = RunDir(root)
    if not (run.config.is_file() and (run.best_checkpoint.is_file() or run.last_checkpoint.is_file())) or run.summary.is_file():
        return None
    return root, ("is still being trained" if being_trained(run) else f"is not finished (finish it with `{resume_command(root)}`)")
