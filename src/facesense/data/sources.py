"""Read any supported dataset into `Samples`, auto-detecting its format.

Formats: class folders root/<class>/*; split folders root/{train,val,test}/<class>/*;
FER2013 csv (plain or .gz) `emotion,pixels[,Usage]`; labels.csv manifest `path,label[,split]`.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import unicodedata
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError, FacesenseError, say_once
from ..labels import FER2013_CODES, normalise
from ..runs import outside_dataset
from .images import IMAGE_SUFFIXES, SKIP_BAD_HINT, SYSTEM_FOLDERS, VIDEO_FILE_SUFFIXES, files_under, hidden, walk_once
from .samples import Samples

log = logging.getLogger(__name__)

FORMATS = ("folders", "fer2013", "manifest")
SPLIT_ALIASES = {
    "train": {"train", "training"},
    "val": {"val", "valid", "validation", "publictest", "dev"},
    "test": {"test", "testing", "privatetest"},
}
MANIFEST_SPLIT_COLUMNS = ("split", "partition", "usage", "fold")


def canonical_split(name: str) -> str | None:
    key = name.strip().lower()
    return next((canon for canon, names in SPLIT_ALIASES.items() if key in names), None)


def _same_split(a: str | None, b: str | None) -> bool:
    """Whether two split cells name one split, as splits are matched: in any case, or by alias
    ('val' and 'validation')."""
    if a is None or b is None:
        return a is b
    return a.lower() == b.lower() or (canonical_split(a) is not None and canonical_split(a) == canonical_split(b))


def open_text(path: Path, errors: str = "strict") -> io.TextIOBase:
    """A csv file as text, gunzipped when it ends in .gz (UTF-8, with or without the byte-order
    mark that spreadsheets write; newline="" as csv wants)."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors=errors, newline="")
    return open(path, encoding="utf-8-sig", errors=errors, newline="")


def _allow_long_fields() -> None:
    # a FER-style row of a face over ~180 px a side is longer than csv's default field limit
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


def _not_utf8(path: Path, line_no: int, cells) -> None:
    """Decoded with surrogate escapes, a byte that is not UTF-8 is found in its own row."""
    if not all(_utf8(c) for c in cells if c):
        raise DataError(f"{path} line {line_no}: a byte that is not UTF-8; {CSV_HINT}")


# what a damaged or foreign csv raises while it is read: a byte that is not UTF-8, a broken quote
# or an over-long field, a gzip file cut short
CSV_READ_ERRORS = (UnicodeDecodeError, csv.Error, EOFError, zlib.error, gzip.BadGzipFile)
CSV_HINT = "save it as UTF-8 csv (a .gz must be complete)"


def _csv_header(path: Path) -> list[str]:
    _allow_long_fields()
    try:
        with open_text(path, "surrogateescape") as f:
            header = next(csv.reader(f, strict=True), [])
        _not_utf8(path, 1, header)
    except (OSError, *CSV_READ_ERRORS) as exc:
        raise DataError(f"{path}: cannot read it as csv ({exc.__class__.__name__}: {exc}); {CSV_HINT}") from None
    if not header:  # (a blank first line: the reader would take the next line for the header, but a manifest's rows never start there)
        what = "is empty" if path.stat().st_size == 0 else "its first line is blank"
        raise DataError(f"{path}: {what} (no header line); expected a header such as path,label[,split] or emotion,pixels[,Usage] on the first line")
    separator = next((sep for sep in (";", "\t", "|") if len(header) == 1 and sep in header[0]), None)
    if separator:  # a spreadsheet saved in a locale whose list separator is not the comma: "missing column 'path'" did not say why
        shown = {"\t": "tabs"}.get(separator, repr(separator))
        raise DataError(f"{path}: its columns are separated by {shown}, not commas (header {header[0][:60]!r}); save it as comma-separated csv")
    names = [c.strip().lower() for c in header]
    # columns are found by name, case aside: two of one name gave each row two values, shifting a group column's rows
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if twice:
        spelled = [c.strip() for c in header if c.strip().lower() == twice[0]]
        raise DataError(f"{path}: column {twice[0]!r} appears {len(spelled)} times in the header ({', '.join(spelled)}; names are read without case); rename or remove all but one")
    return names


def _header_shown(header: list[str]) -> str:
    """A header for an error line: a file without one has a row of 2,304 pixels there."""
    cells = [c if len(c) <= 24 else c[:21] + "..." for c in header[:6]]
    return str(cells)[:-1] + (f", ... {len(header) - 6} more]" if len(header) > 6 else "]")


def csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row with lower-case keys) of a csv file with a header, each failure to read
    it one DataError naming the file and the line."""
    _allow_long_fields()
    with open_text(path, "surrogateescape") as f:
        reader = csv.DictReader(f, strict=True)  # an unclosed quote is an error, not the rest of the file in one cell
        try:
            reader.fieldnames = [c.strip().lower() for c in reader.fieldnames or []]
            said = False
            for row in reader:  # line_num: the file's line, blank lines counted (the reader skips them)
                _not_utf8(path, reader.line_num, [c for v in row.values() for c in (v if isinstance(v, list) else [v])])  # extra cells come as a list
                beyond = [c for c in row.get(None) or () if c.strip()]  # (empty ones: a spreadsheet's trailing commas)
                if beyond and not said:  # left out without a word: a path with a comma split in two read as a short path
                    say_once(__name__, logging.WARNING, "%s line %d: %d cell(s) beyond the header's %d columns (%s), which are not read; a cell holding a comma needs quotes",
                                path, reader.line_num, len(beyond), len(reader.fieldnames), ", ".join(repr(c[:20]) for c in beyond[:3]))
                    said = True
                yield reader.line_num, row
        except CSV_READ_ERRORS as exc:
            what = f"a broken row or an unclosed quote ({exc})" if isinstance(exc, csv.Error) else f"{exc.__class__.__name__}: {exc}"
            raise DataError(f"{path} line {reader.line_num + 1}: cannot be read ({what}); {CSV_HINT}") from None


def outside_data(out: Path, dataset: str | Path, option: str = "--out") -> Path:
    """An output folder that no later reading of the dataset takes for data: outside a folder
    dataset (runs.outside_dataset), and for a labels.csv given as a file, outside every folder
    that holds its images below the csv's own (which may hold outputs): a report written into
    split/test/ beside its class folders was read as a class by `--data split/test` next."""
    outside_dataset(out, dataset, option)
    path = Path(dataset)
    if not path.is_file():  # a folder: outside_dataset keeps outputs out of it whole
        return out
    try:
        if detect_format(path)[0] != "manifest":  # a FER2013 csv holds its pixels
            return out
        home, folders, seen = Path(os.path.abspath(path.parent)), set(), set()  # as read_manifest reads the paths
        for _, row in csv_rows(path):
            rel = os.path.dirname((row.get("path") or "").strip())
            if rel in seen:  # rows share few folders: each is walked once
                continue
            seen.add(rel)
            folder = Path(os.path.normpath(home / rel)) if rel else home
            # each image's folder and those above it, up to the csv's own (for an image elsewhere, up
            # to the folder it shares with the csv: ../imgs/happy/a.png protects imgs/ too)
            top = Path(os.path.commonpath([folder, home]))
            while folder not in folders and folder != top and folder != folder.parent:
                folders.add(folder)
                folder = folder.parent
    except DataError:  # said where the dataset is read
        return out
    # both sides as the files they reach (a link to the images, a linked csv)
    folders = {Path(os.path.realpath(f)): f for f in folders}
    out_path = Path(out).resolve()
    for folder in (out_path, *out_path.parents):
        if folder in folders:
            how = " with --out DIR" if option.startswith("the default") else ""
            raise FacesenseError(f"{option} {out}: is inside {folder}, which holds images of {path}, where its files would be read as data "
                                 f"(as a class folder, with --data {folder}); choose a folder outside it{how}")
    return out


def detect_format(path: str | Path) -> tuple[str, Path]:
    """-> (format, path to read). Directories with a labels.csv are manifests."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset {path} does not exist; give a folder tree, a FER2013 csv or a labels.csv")
    if path.is_dir():
        if (path / "labels.csv").is_file():
            return "manifest", path / "labels.csv"
        if (path / "config.yaml").is_file() and any((path / name).is_file() for name in ("best.pt", "last.pt", "train_summary.json")):
            # its reports' files were read as images of classes named eval_test, eval_val...
            raise DataError(f"{path}: a training run's folder, not a dataset; give the data it trained on (its config.yaml names it under data:) or other data")
        return "folders", path
    what = ("a single image" if path.suffix.lower() in IMAGE_SUFFIXES else "a video" if path.suffix.lower() in VIDEO_FILE_SUFFIXES
            else "a model" if path.suffix.lower() in (".onnx", ".pt", ".pth") else None)
    if what:  # its bytes would be read as a csv's ("a byte that is not UTF-8")
        raise DataError(f"{path}: {what}, not a dataset; give a folder of class folders, a FER2013 csv or a labels.csv")
    header = _csv_header(path)
    if "pixels" in header:
        return "fer2013", path
    if "path" in header:
        return "manifest", path
    raise DataError(
        f"{path}: unknown dataset format (header {_header_shown(header)}); expected a FER2013 csv "
        "(emotion,pixels[,Usage]) or a manifest (path,label[,split])"
    )


def read_dataset(path: str | Path, fmt: str = "auto", skip_bad: bool = False, min_classes: int = 2) -> Samples:
    """A dataset in any of FORMATS; `min_classes`: 2 to train a classifier on it, 1 to score one
    (how often a model calls the women of a set women)."""
    listed_folder = fmt == "auto" and Path(path).is_dir()  # a folder read through its labels.csv
    if fmt == "auto":
        fmt, path = detect_format(path)
    elif fmt not in FORMATS:
        raise DataError(f"unknown dataset format {fmt!r}; use one of {', '.join(FORMATS)} or auto")
    path = Path(path)
    if fmt == "manifest" and path.is_dir():
        path = path / "labels.csv"
    if fmt == "fer2013" and path.is_dir():  # it said "cannot read it as csv (IsADirectoryError...)"
        raise DataError(f"{path}: a folder, not a FER2013-style csv file; give the .csv (or .csv.gz), or read the folder with --format folders or manifest (train: data_format=folders or manifest)")
    reader = {"folders": read_folders, "fer2013": read_fer2013, "manifest": read_manifest}[fmt]
    samples = reader(path, skip_bad=skip_bad)
    check_classes(samples, min_classes)
    if listed_folder and fmt == "manifest":
        _warn_of_unlisted_images(path, samples)
    return samples


def _warn_of_unlisted_images(manifest: Path, samples: Samples) -> None:
    """A folder with a labels.csv is read through it alone: images put into its class folders
    afterwards (or a `data split` output a user added to) were left out without a word."""
    folder = os.path.normpath(os.path.abspath(manifest.parent))
    real_dirs: dict[str, str] = {}  # compared as real paths (a folder reached through a link), one realpath per folder

    def real(path: str) -> str:
        head, name = os.path.split(path)
        if head not in real_dirs:
            real_dirs[head] = os.path.realpath(head)
        return os.path.join(real_dirs[head], name)

    listed = {real(os.path.abspath(p)) for p in samples.paths or []}  # as read: relative to the working folder, or absolute
    listed |= {real(os.path.normpath(os.path.join(folder, i))) for i, _ in samples.skipped}  # ids: relative to the manifest's folder
    # plain string work: a folder of 50,000 images is walked on every read (Path objects took 0.8 s)
    unlisted = []
    for root, dirs, files in walk_once(folder):  # each real folder once
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        # a report facesense wrote here (inspect's default folder, an evaluation): its plots are no data
        if root != folder and "report.md" in files and ({"summary.json", "samples.png"} <= set(files) or {"metrics.json", "predictions.csv"} <= set(files)):
            dirs[:] = []
            continue
        unlisted += [path for name in sorted(files) if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
                     and real(path := os.path.join(root, name)) not in listed]
    if unlisted:
        # the class folders are another way to read them only where the listed images lie in
        # folders named for their classes (or split/class folders): a subset's labels.csv beside
        # UTKFace's one images/ folder, read as folders, made one class of every image
        where = [os.path.relpath(os.path.abspath(p), folder).split(os.sep) for p in samples.paths or []]
        in_class_folders = bool(where) and all(parts[0] == label or (len(parts) > 2 and canonical_split(parts[0]) and parts[1] == label)
                                               for parts, label in zip(where, samples.labels))
        instead = ("list them there, or read the class folders instead with --format folders (data_format: folders in a config)" if in_class_folders
                   else "list them there if they belong to the data (a labels.csv of a subset reads its own rows only, as meant)")
        log.warning("%s: %d image(s) in the folder are not in its labels.csv, which is what is read (e.g. %s): %s",
                    manifest.parent, len(unlisted), os.path.relpath(unlisted[0], folder), instead)


def check_classes(samples: Samples, min_classes: int = 2) -> None:
    counts = samples.class_counts()
    # rows skipped as unusable may be why: name the first
    why = f" ({len(samples.skipped)} skipped as unusable, e.g. {samples.skipped[0][1]})" if samples.skipped else ""
    if len(samples) == 0:
        raise DataError(f"{samples.source}: no samples found{why}; check the path and the layout (see README)")
    if len(counts) < min_classes:
        raise DataError(
            f"{samples.source}: only one class ({next(iter(counts))!r}){why}; a classifier needs at least two"
        )


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # a name in another encoding, read with surrogate escapes
        return False


def _shown(path: Path) -> str:
    """A path as it can be printed: bytes of another encoding as U+FFFD."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name.lower() not in SYSTEM_FOLDERS)


def _check_not_split_inside(root: Path, class_dirs: list[Path]) -> None:
    """Class folders that each hold split folders (`man/train`, `man/test`) were read as one pool
    without a word: the data's own test images were drawn into training, and a copy across them
    was no leak. A single "class" holding them is the dataset one folder down."""
    inside = {c: [d.name for d in _class_dirs(c) if canonical_split(d.name)] for c in class_dirs}
    if not class_dirs or not all(inside.values()):
        return
    if len(class_dirs) == 1:
        raise DataError(f"{root}: its one folder {class_dirs[0].name} holds the split folders {', '.join(inside[class_dirs[0]])}: give {class_dirs[0]} as the data")
    first = class_dirs[0]
    raise DataError(f"{root}: its class folders hold split folders ({first.name}/{inside[first][0]}, ...); facesense reads <split>/<class>/<images> "
                    f"(e.g. {inside[first][0]}/{first.name}/): move them into that layout, or list the images in a labels.csv with a split column")


def _loose_images(folder: Path) -> list[Path]:
    """The images directly in a folder of class folders, where no class is."""
    return [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not hidden(p, folder)]


def read_folders(root: Path, skip_bad: bool = False) -> Samples:
    if not root.is_dir():
        what = "does not exist; give a folder of class folders" if not root.exists() else "is a file, not a folder of class folders; let its format be found (--format auto, data_format: auto in a config)"
        raise DataError(f"{root}: {what}")
    subdirs = _class_dirs(root)
    split_dirs = [d for d in subdirs if canonical_split(d.name)]
    if split_dirs and len(split_dirs) == len(subdirs):
        groups = [(d.name, d) for d in split_dirs]
    elif split_dirs:
        raise DataError(
            f"{root}: mixes split folders {[d.name for d in split_dirs]} with class folders "
            f"{[d.name for d in subdirs if d not in split_dirs]}; use one layout (a class named like a split, "
            f"{split_dirs[0].name!r}, reads as a split folder: rename its folder, or list the images in a labels.csv)"
        )
    else:
        groups = [(None, root)]
    ids, labels, splits, paths = [], [], [], []
    skipped: list[tuple[str, str]] = []
    skipped_splits: list[str | None] = []
    skipped_labels: list[str | None] = []
    refused: list[str] = []  # files that are no images, without skip_bad: all counted in one error
    class_dirs_of = {base: _class_dirs(base) for _, base in groups}
    for base, class_dirs in class_dirs_of.items():  # checked first: a flat folder of photos gets one line, not a warning and then the error
        if not class_dirs:
            loose = _loose_images(base)
            tables = sorted(f.name for f in base.iterdir() if f.is_file() and f.name.lower().endswith((".csv", ".csv.gz")))
            held = (f"; its {len(loose)} image(s) lie directly in it: move them into one folder per class" if loose
                    else f"; it holds {', '.join(tables)}: give the csv itself as the data (e.g. {base / tables[0]})" if tables else "")  # FER2013's folder given for its file
            raise DataError(f"{base}: no class folders; expected {base}/<class>/<images>{held}")
    if groups[0][0] is None:
        _check_not_split_inside(root, class_dirs_of[root])
    for folder in ([root] if groups[0][0] is not None else []) + [base for _, base in groups]:
        loose = _loose_images(folder)
        if loose:  # a photo folder with a subfolder read as a dataset of one class: say what was left out
            log.warning("%s: %d image(s) directly in the folder belong to no class folder and are left out (a dataset of class folders is %s/<class>/<images>)", folder, len(loose), folder)
    for split, base in groups:
        for class_dir in class_dirs_of[base]:
            if not _utf8(class_dir.name):
                raise DataError(f"{_shown(class_dir)}: the folder name is not UTF-8 (another encoding's bytes); rename it, e.g. with convmv")
            # a link to a file that is gone counts as a bad file, not as no file
            files = sorted(p for p in files_under(class_dir) if (p.is_file() or (p.is_symlink() and not p.exists())) and not hidden(p, class_dir))
            images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES and _utf8(str(p.relative_to(class_dir))) and p.exists()]
            for p in files:
                reason = None
                if not p.exists():
                    reason = f"{_shown(p)}: a link to a missing file ({os.readlink(p)})"
                elif not _utf8(str(p.relative_to(class_dir))):  # every report, manifest and log is UTF-8
                    reason = f"{_shown(p)}: the file name is not UTF-8 (rename it, e.g. with convmv)"
                elif p.suffix.lower() not in IMAGE_SUFFIXES:
                    reason = f"{p}: not an image file (extension {p.suffix or 'none'})"
                if reason:
                    if not skip_bad:
                        refused.append(reason)
                        continue
                    skipped.append((_shown(p.relative_to(root)), reason))
                    skipped_splits.append(split)
                    skipped_labels.append(class_dir.name)
            if not images:
                raise DataError(
                    f"{class_dir}: class folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                    "add images or remove the folder"
                )
            for p in images:
                ids.append(str(p.relative_to(root)))
                labels.append(class_dir.name)
                splits.append(split)
                paths.append(p)
    if refused:  # one run names them all: fixed one a run, a folder of ten took ten runs
        more = f" ({len(refused) - 1} more file(s) that cannot be used, e.g. {refused[1]})" if len(refused) > 1 else ""
        raise DataError(f"{refused[0]}{more}; move {'them' if more else 'it'} out of the dataset, or {SKIP_BAD_HINT}")
    return Samples(str(root), ids, labels, splits, paths=paths, skipped=skipped, skipped_splits=skipped_splits, skipped_labels=skipped_labels)


def _pixel_values(text: str) -> np.ndarray:
    try:
        return np.fromstring(text, dtype=np.int32, sep=" ")
    except ValueError:  # numpy's own words name neither the value nor the format
        bad = next((t for t in text.split() if not t.lstrip("-").isdecimal()), text.strip()[:20])
        raise ValueError(f"pixel value {bad!r} is not a whole number (pixels are numbers 0..255 separated by spaces)") from None


def _fer2013_name(code) -> str | None:
    """The class a FER2013 row's emotion cell names, or None when it names none."""
    text = str(code or "").strip()
    return FER2013_CODES[int(text)] if text.isdecimal() and int(text) < len(FER2013_CODES) else None


def read_fer2013(path: Path, skip_bad: bool = False) -> Samples:
    """FER2013 csv: label codes 0..6 become names here, so nothing downstream sees codes."""
    header = _csv_header(path)
    for column in ("emotion", "pixels"):
        if column not in header:
            raise DataError(f"{path}: missing column {column!r} (header: {_header_shown(header)}); expected emotion,pixels[,Usage]")
    ids, labels, splits, rows, lines = [], [], [], [], []
    extra = [c for c in header if c and c not in ("emotion", "pixels", "usage")]  # (a subject, a site): for --group-by, as a manifest's
    reserved = [c for c in extra if c in ("path", "label", *MANIFEST_SPLIT_COLUMNS)]  # a manifest's own columns: a copy as labels.csv would name them twice
    if reserved:
        log.warning("%s: column%s %s not read (a FER2013-style csv's splits are its Usage column and its labels its emotion codes)",
                    path, "s" if len(reserved) > 1 else "", ", ".join(map(repr, reserved)) + (" are" if len(reserved) > 1 else " is"))
        extra = [c for c in extra if c not in reserved]
    columns: dict[str, list[str]] = {c: [] for c in extra}
    skipped: list[tuple[str, str]] = []
    skipped_splits: list[str | None] = []
    skipped_labels: list[str | None] = []

    def bad(row_id: str, line_no: int, row: dict, problem: str) -> None:
        reason = f"{path} line {line_no}: {problem}"
        if not skip_bad:
            raise DataError(f"{reason}; fix or delete the row, or {SKIP_BAD_HINT}")
        skipped.append((row_id, reason))
        skipped_splits.append((row.get("usage") or "").strip() or None)
        skipped_labels.append(_fer2013_name(row.get("emotion")))

    for row_no, (line_no, row) in enumerate(csv_rows(path), start=1):
        row_id = f"row{row_no}"  # the row's place among the data rows: FER+'s vote table lines up by it
        try:
            cell = (row["emotion"] or "").strip()
            if not ids and not skipped and normalise(cell) in FER2013_CODES:  # names from the first row on: --skip-bad would drop every row
                codes = ", ".join(f"{i} {name}" for i, name in enumerate(FER2013_CODES))
                raise DataError(f"{path} line {line_no}: emotion {cell!r} is a class name; a FER2013-style csv gives label codes ({codes}): "
                                "write the codes, or list the images in a labels.csv, whose labels are names")
            if not cell.lstrip("-").isdecimal():  # int() said "invalid literal for int() with base 10: ''"
                raise ValueError(f"emotion {cell!r} is not a label code (expected a number 0..{len(FER2013_CODES) - 1})")
            code = int(cell)
            if not 0 <= code < len(FER2013_CODES):
                raise ValueError(f"unknown label code {code} (expected 0..{len(FER2013_CODES) - 1})")
            # fromstring parses 5x faster than split(); a token that is not a number stops it
            values = _pixel_values(row["pixels"] or "")
            if len(values) == 0:
                raise ValueError("no pixel values")
            if values.min() < 0 or values.max() > 255:
                raise ValueError("pixel values outside 0..255")
        except (ValueError, TypeError, AttributeError) as exc:
            bad(row_id, line_no, row, str(exc))
            continue
        ids.append(row_id)
        labels.append(FER2013_CODES[code])
        splits.append((row.get("usage") or "").strip() or None)
        rows.append(values.astype(np.uint8))
        for c in extra:
            columns[c].append((row.get(c) or "").strip())
        lines.append((line_no, {"usage": row.get("usage"), "emotion": row.get("emotion")}))  # not its pixel text: 8 kB a row
    # the face size is the rows' most common one: a first row cut short made every other row "bad"
    common = Counter(len(r) for r in rows).most_common(1)[0][0] if rows else 48 * 48
    side = int(round(common ** 0.5))
    odd = [i for i, r in enumerate(rows) if len(r) != side * side]
    for i in odd:
        expected = f"expected {side * side} ({side}x{side}, as most rows have)" if len(rows[i]) != common else "not a square image"
        bad(ids[i], *lines[i], f"{len(rows[i])} pixel values, {expected}")
    if odd:
        keep = sorted(set(range(len(rows))) - set(odd))
        ids, labels, splits, rows = [ids[i] for i in keep], [labels[i] for i in keep], [splits[i] for i in keep], [rows[i] for i in keep]
        columns = {c: [v[i] for i in keep] for c, v in columns.items()}
    pixels = np.stack(rows).reshape(-1, side, side) if rows else np.zeros((0, 48, 48), np.uint8)
    return Samples(str(path), ids, labels, splits, pixels=pixels, skipped=skipped, skipped_splits=skipped_splits, skipped_labels=skipped_labels, columns=columns,
                   split_column="usage" if "usage" in header else None)


def _spelled_otherwise(path: Path, listings: dict) -> Path | None:
    """A file beside `path` whose name differs from its name only in case or Unicode form
    (`W0.JPG` for `w0.jpg`, a decomposed `Zoë.jpg`): where a missing image most likely is.
    `listings`: each folder's names by that key, read once per manifest."""
    def key(name: str) -> str:
        return unicodedata.normalize("NFC", name).casefold()

    folder = path.parent
    if folder not in listings:
        try:
            listings[folder] = {key(other.name): other for other in folder.iterdir()}
        except OSError:  # no such folder either
            listings[folder] = {}
    other = listings[folder].get(key(path.name))
    return other if other is not None and other.is_file() else None


def _image_key(manifest: Path, rel: str) -> str:
    """One image however a manifest row names it: relative, with ./, absolute, or through a link
    (an absolute path to an image listed relatively put it in train and val with two labels)."""
    return os.path.realpath(manifest.parent / rel) if rel else ""


def _same_age(a: str, b: str) -> bool:
    """Two age cells that do not contradict each other: 25 and 25.0 say one age, and a blank
    says none (the filled row's is kept)."""
    if a == b or not a or not b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def read_manifest(path: Path, skip_bad: bool = False) -> Samples:
    """labels.csv: path,label[,split|partition]; paths relative to the csv's folder."""
    if not path.is_file():
        folder = path.parent if path.name == "labels.csv" and path.parent.is_dir() else None
        fix = f"{folder} has no labels.csv: read its class folders with --format folders or auto (train: data_format=folders or auto)" if folder else "give a labels.csv (path,label[,split])"
        raise DataError(f"{path}: manifest not found; {fix}")
    header = _csv_header(path)
    for column in ("path", "label"):
        if column not in header:
            raise DataError(f"{path}: missing column {column!r} (header: {_header_shown(header)}); expected path,label[,split]")
    split_column = next((c for c in MANIFEST_SPLIT_COLUMNS if c in header), None)
    extra = [c for c in header if c not in ("path", "label", split_column)]
    columns: dict[str, list[str]] = {c: [] for c in extra}
    ids, labels, splits, paths = [], [], [], []
    skipped: list[tuple[str, str]] = []
    skipped_splits: list[str | None] = []
    skipped_labels: list[str | None] = []
    first_seen: dict[str, tuple[int, str, str | None]] = {}  # image -> (line, label, split) of its first row
    listings: dict = {}  # folders listed to find a missing image spelled otherwise
    repeats, conflicted = [], set()
    first_extra: dict[str, dict[str, str]] = {}  # image -> its first row's other columns
    first_pos: dict[str, int] = {}  # image -> its row among those kept
    repeat_differs: list[str] = []
    for line_no, row in csv_rows(path):
        rel, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        split = ((row.get(split_column) or "").strip() or None) if split_column else None
        problem = None
        same = _image_key(path, rel)  # ./a.jpg, a.jpg and its absolute path are one image
        if not rel or not label:
            problem = "empty path or label"
        elif same in first_seen:
            # one image twice would land on both sides of a split (trained on, then scored)
            seen_line, seen_label, seen_split = first_seen[same]
            # an age is a target too (gender+age training, age evaluation): two ages are two labels
            age, seen_age = ((row.get("age") or "").strip(), first_extra[same]["age"]) if "age" in extra else ("", "")
            if seen_label == label and _same_split(seen_split, split) and _same_age(age, seen_age):
                repeats.append(line_no)
                if age and not seen_age:  # the row that gives the age is the one to keep it from (and to name)
                    columns["age"][first_pos[same]] = first_extra[same]["age"] = age
                    first_seen[same] = (line_no, label, split)
                differ = [c for c in extra if c != "age" and (row.get(c) or "").strip() != first_extra[same][c]]  # (ages: compared above)
                if differ and not repeat_differs:  # a group column (race) that disagrees: the first row's is kept
                    repeat_differs.append(f"line {line_no} gives {differ[0]} {(row.get(differ[0]) or '').strip()!r} where line {seen_line} gave {first_extra[same][differ[0]]!r}")
                continue
            conflicted.add(same)
            said = (f"labelled {label!r} here and {seen_label!r}" if seen_label != label else f"given age {age!r} here and {seen_age!r}" if not _same_age(age, seen_age)
                    else f"in split {split or '(blank)'!r} here and {seen_split or '(blank)'!r}")
            problem = f"image {rel} is {said} on line {seen_line}; give each image one row"
        elif not (path.parent / rel).is_file():
            near = None if "\\" in rel else _spelled_otherwise(path.parent / rel, listings)
            hint = (" (paths are written with /; this one has \\, as Windows writes them)" if "\\" in rel
                    else f" ({near.name!r} is there: names must match exactly, " + ("in case)" if near.name.casefold() == Path(rel).name.casefold()
                                                                                     else "in Unicode's form too: macOS writes accents as separate marks)") if near else "")
            problem = f"image {path.parent / rel} {'is a folder, not an image' if (path.parent / rel).is_dir() else 'not found'}{hint}"
        if problem:
            reason = f"{path} line {line_no}: {problem}"
            if not skip_bad:
                raise DataError(f"{reason}; fix the row, or {SKIP_BAD_HINT}")
            skipped.append((rel or f"line{line_no}", reason))
            skipped_splits.append(split)
            skipped_labels.append(label or None)
            continue
        first_seen[same] = (line_no, label, split)
        first_pos[same] = len(ids)
        first_extra[same] = {c: (row.get(c) or "").strip() for c in extra}
        ids.append(rel)
        labels.append(label)
        splits.append(split)
        paths.append(path.parent / rel)
        for c in extra:
            columns[c].append((row.get(c) or "").strip())
    if conflicted:  # (skip_bad) no row of an image with two labels or splits is kept: which one is right is unknown
        keep = [i for i, rel in enumerate(ids) if _image_key(path, rel) not in conflicted]
        for i in sorted(set(range(len(ids))) - set(keep)):
            skipped.append((ids[i], f"{path} line {first_seen[_image_key(path, ids[i])][0]}: image {ids[i]} has other rows with another label, age or split"))
            skipped_splits.append(splits[i])
            skipped_labels.append(labels[i])
        ids, labels, splits, paths = [ids[i] for i in keep], [labels[i] for i in keep], [splits[i] for i in keep], [paths[i] for i in keep]
        columns = {c: [v[i] for i in keep] for c, v in columns.items()}
    if repeats:
        log.warning("%s: %d row(s) repeat an earlier row's image and label (line %s%s); each image is used once%s", path, len(repeats), repeats[0], ", ..." if len(repeats) > 1 else "",
                    f", with its first row's other columns ({repeat_differs[0]})" if repeat_differs else "")
    return Samples(str(path), ids, labels, splits, paths=paths, skipped=skipped, skipped_splits=skipped_splits, skipped_labels=skipped_labels, columns=columns, split_column=split_column)
