"""A corpus of bad inputs, made on the fly, run through every CLI command that takes them.

Each case must end with exit code 2 (docs/exit-codes.md), one line on stderr that starts with
'error: ' and names the file or value, no traceback, no temp file left and no output written.
The table of commands x inputs is docs/exit-codes.md; keep the two in step.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import dds_with_unknown_pixel_format, write_class_folders, write_fer_csv
from facesense.cli import main


def png_bomb(path: Path, side: int = 20_000) -> Path:
    """A valid PNG header that claims side x side pixels, in a file of a few hundred bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * (side + 1) * 4)) + chunk(b"IEND", b""))
    return path


def encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_class_folders(root / "faces", ["man", "woman"], 4, colour=True, size=64)
    write_fer_csv(root / "fer.csv", [i % 7 for i in range(14)])
    write_fer_csv(root / "fer_usage.csv", [i % 7 for i in range(14)], ["Training"] * 7 + ["PublicTest"] * 7)
    (root / "fer_folder").mkdir()  # the folder a FER2013 csv came in, given for the csv
    write_fer_csv(root / "fer_folder" / "fer2013.csv", [i % 7 for i in range(14)])
    lines = (root / "fer.csv").read_text().splitlines()
    (root / "fer_superscript.csv").write_text("\n".join([lines[0], "\u00b2" + lines[1][1:], *lines[2:]]) + "\n")  # '²' is a digit to isdigit(), not to int()
    (root / "zero.jpg").write_bytes(b"")
    for suffix in (".jpg", ".png", ".mp4"):
        (root / f"text{suffix}").write_text("just some text\n")
    (root / "truncated.jpg").write_bytes(encoded("JPEG")[:300])
    (root / "truncated.png").write_bytes(encoded("PNG")[:300])
    png_bomb(root / "bomb.png")
    import cv2

    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
    for i in range(20):
        writer.write(np.full((64, 64, 3), i * 10, np.uint8))
    writer.release()
    (root / "truncated.mp4").write_bytes((root / "clip.mp4").read_bytes()[:600])
    (root / "random.pt").write_bytes(np.random.default_rng(1).bytes(4000))
    (root / "random.onnx").write_bytes(np.random.default_rng(2).bytes(4000))
    (root / "wrong_columns.csv").write_text("a,b\n1,2\n")
    (root / "latin1.yaml").write_bytes("task: expression\nname: café\n".encode("latin-1"))  # as some Windows editors save it
    (root / "ages").mkdir()  # a labels.csv with ages, for an age evaluation
    (root / "ages" / "labels.csv").write_text("path,label,age\n" + "".join(f"../faces/{g}/{g}_{i}.png,{g},{20 + i}\n" for g in ("man", "woman") for i in range(4)))
    (root / "manifest").mkdir()
    (root / "manifest" / "labels.csv").write_text("path,label\nmissing_a.png,man\nmissing_b.png,woman\n")
    (root / "unknown_key.yaml").write_text("task: gender\nepochz: 3\n")
    (root / "wrong_type.yaml").write_text("task: gender\nepochs: many\n")
    (root / "a_file").write_text("a file where a folder is expected\n")
    (root / "a_folder").mkdir()
    (root / "odd_format.png").write_bytes(dds_with_unknown_pixel_format())
    (root / "busy_timeline.png").mkdir()  # where --summary busy.json would draw its timeline
    (root / "map_drops_all.yaml").write_text("man: null\nwoman: null\n")
    (root / "map_typo.yaml").write_text("woman: womn\n")
    for label in ("man", "woman"):  # a dataset whose every image is unreadable
        (root / "all_bad" / label).mkdir(parents=True)
        (root / "all_bad" / label / "x.jpg").write_text("not an image\n")
    shutil.copytree(root / "faces" / "man", root / "half_bad" / "man")  # a class whose every image is unreadable
    shutil.copytree(root / "all_bad" / "woman", root / "half_bad" / "woman")
    (root / "map_stray_key.yaml").write_text("nobody: man\n")
    for label in ("man", "woman"):  # each class holding its split folders, read as one pool (found by a bug hunt)
        for split in ("train", "test"):
            shutil.copytree(root / "faces" / label, root / "class_then_split" / label / split)
    shutil.copytree(root / "faces", root / "one_up" / "mydata" / "train")  # the dataset one folder down
    shutil.copytree(root / "faces", root / "one_up" / "mydata" / "test")
    shutil.copytree(root / "faces", root / "not_images")
    for name in ("notes.txt", "list.doc"):  # each named by a run of its own
        (root / "not_images" / "man" / name).write_text("x\n")
    (root / "semicolons.csv").write_text("path;label\nfaces/man/man_0.png;man\n")  # a European-locale spreadsheet's csv
    (root / "tabs.csv").write_text("path\tlabel\nfaces/man/man_0.png\tman\n")
    (root / "empty.csv").write_text("")
    (root / "blank_first_line.csv").write_text("\npath,label\nfaces/man/man_0.png,man\n")
    (root / "spelled").mkdir()  # a labels.csv naming its images in another case, or Unicode form, than the files have
    shutil.copy(root / "faces" / "man" / "man_0.png", root / "spelled" / "W0.PNG")
    shutil.copy(root / "faces" / "man" / "man_0.png", root / "spelled" / "Zoe\u0308.png")  # decomposed, as macOS writes it
    (root / "spelled" / "album").mkdir()
    (root / "spelled" / "case.csv").write_text("path,label\nw0.png,man\n")
    (root / "spelled" / "form.csv").write_text("path,label\nZo\u00eb.png,man\n")
    (root / "spelled" / "folder.csv").write_text("path,label\nalbum,man\n")
    return root


LIVE = ["live", "--no-window", "--gender", "none"]
# (case id, argv with {c} for the corpus folder, text the error line must contain)
CASES = [
    ("live zero-byte image", LIVE + ["--source", "{c}/zero.jpg"], "zero.jpg"),
    ("live text named .jpg", LIVE + ["--source", "{c}/text.jpg"], "text.jpg: not a readable image (UnidentifiedImageError"),
    ("live text named .jpg, the fix", LIVE + ["--source", "{c}/text.jpg"], "; give a photo that opens in an image viewer"),  # it named no fix
    ("live text named .png", LIVE + ["--source", "{c}/text.png"], "text.png: not a readable image"),
    ("live text named .mp4", LIVE + ["--source", "{c}/text.mp4"], "text.mp4: a text file, not a video"),
    # a decoder plugin that raises what Pillow's readers were not expecting: a traceback before
    ("live image its decoder cannot handle", LIVE + ["--source", "{c}/odd_format.png"], "odd_format.png: not a readable image (NotImplementedError"),
    ("predict image its decoder cannot handle", ["predict", "gender", "{c}/odd_format.png"], "odd_format.png: not a readable image"),
    # the advice is this command's own way to skip such files (it named training configs too), and an empty file is said to be one
    ("predict a zero-byte image", ["predict", "gender", "{c}/zero.jpg"], "zero.jpg: not a readable image (an empty file (0 bytes)); remove or replace it, or add --skip-bad to skip and list such files"),
    ("live truncated jpeg", LIVE + ["--source", "{c}/truncated.jpg"], "truncated.jpg"),
    ("live truncated png", LIVE + ["--source", "{c}/truncated.png"], "truncated.png"),
    ("live decompression bomb", LIVE + ["--source", "{c}/bomb.png"], "bomb.png: over the limit"),
    ("live truncated video", LIVE + ["--source", "{c}/truncated.mp4", "--log", "{c}/out/t.csv"], "truncated.mp4"),
    ("live missing path", LIVE + ["--source", "{c}/nope.mp4"], "nope.mp4 not found"),
    ("live folder as --log", LIVE + ["--source", "{c}/clip.mp4", "--log", "{c}/a_folder"], "--log {c}/a_folder: is a folder"),
    ("live folder/ as --log", LIVE + ["--source", "{c}/clip.mp4", "--log", "{c}/new_folder/"], "new_folder/: is a folder"),
    ("live file as output folder", LIVE + ["--source", "{c}/clip.mp4", "--out", "{c}/a_file/x.mp4"], "a_file is a file"),
    ("live --out without extension", LIVE + ["--source", "{c}/clip.mp4", "--out", "{c}/annotated"], "use one of .mp4"),
    ("live --out unsupported extension", LIVE + ["--source", "{c}/clip.mp4", "--out", "{c}/annotated.gif"], "unsupported extension .gif"),
    # each output by its own extension, and never over the source: all three used to replace clip.mp4
    ("live --out is the source", LIVE + ["--source", "{c}/clip.mp4", "--out", "{c}/clip.mp4"], "clip.mp4: is the --source video"),
    ("live --summary inside the photo folder", LIVE + ["--source", "{c}/faces", "--summary", "{c}/faces/man/s.json"], "is inside the --source photo folder, where its timeline picture would be read as a photo next time"),  # its timeline became a photo
    ("live --out a lone extension", LIVE + ["--source", "{c}/faces", "--out", "{c}/out/.mp4"], "has an extension but no name; give one, e.g. {c}/out/annotated.mp4"),  # 'unsupported extension (none)'
    ("live --out inside the photo folder", LIVE + ["--source", "{c}/faces", "--out", "{c}/faces/a.mp4"], "is inside the --source photo folder, where every run over the folder would list the video among the files it does not read"),
    ("live --log is the source", LIVE + ["--source", "{c}/clip.mp4", "--log", "{c}/clip.mp4"], "--log {c}/clip.mp4: unsupported extension .mp4; use a .csv name"),
    ("live --summary is the source", LIVE + ["--source", "{c}/clip.mp4", "--summary", "{c}/clip.mp4"], "use a .json name"),
    ("live --summary whose timeline is a folder", LIVE + ["--source", "{c}/clip.mp4", "--summary", "{c}/busy.json"], "busy_timeline.png is a folder"),  # named a temp file, after writing the rest
    # another log's extension names that log's option: "--log run.jsonl" said only "use one of .csv"
    ("live --jsonl as .csv", LIVE + ["--source", "{c}/clip.mp4", "--jsonl", "{c}/out/frames.csv"], "--jsonl writes .jsonl files; for .csv use --log {c}/out/frames.csv"),
    ("live --log as .jsonl", LIVE + ["--source", "{c}/clip.mp4", "--log", "{c}/out/frames.jsonl"], "for .jsonl use --jsonl {c}/out/frames.jsonl"),
    ("live --summary as .csv", LIVE + ["--source", "{c}/clip.mp4", "--summary", "{c}/out/s.csv"], "for .csv use --log {c}/out/s.csv"),
    ("live --log as .json", LIVE + ["--source", "{c}/clip.mp4", "--log", "{c}/out/f.json"], "for per-frame JSON lines use --jsonl {c}/out/f.jsonl, for the run's summary --summary {c}/out/f.json"),
    ("live --summary as a .csv folder", LIVE + ["--source", "{c}/clip.mp4", "--summary", "{c}/out.csv/"], "--summary {c}/out.csv/: is a folder"),
    ("live model of random bytes (onnx)", LIVE + ["--source", "{c}/clip.mp4", "--expression", "{c}/random.onnx"], "random.onnx: not a loadable ONNX"),
    ("live model of random bytes (pt)", LIVE + ["--source", "{c}/clip.mp4", "--expression", "{c}/random.pt"], "random.pt: not a readable checkpoint"),
    ("live YuNet model of random bytes", LIVE + ["--source", "{c}/clip.mp4", "--detector", "yunet", "--detector-model", "{c}/random.onnx"], "random.onnx: not a usable YuNet model"),  # OpenCV's text made it two lines
    ("live model for another task", LIVE + ["--source", "{c}/clip.mp4", "--expression", "gender"], "is a gender model"),
    ("predict zero-byte image", ["predict", "gender", "{c}/zero.jpg"], "zero.jpg"),
    ("predict decompression bomb", ["predict", "gender", "{c}/bomb.png"], "error: {c}/bomb.png: over the limit"),  # not wrapped in 'not a readable image (DataError: ...)'
    ("predict truncated png", ["predict", "gender", "{c}/truncated.png"], "truncated.png"),
    ("predict missing path", ["predict", "gender", "{c}/nope/"], "nope"),
    ("predict every image unreadable, --skip-bad", ["predict", "gender", "{c}/all_bad/man/x.jpg", "{c}/all_bad/woman/x.jpg", "--skip-bad"], "none of the 2 image(s) could be read"),  # was exit 0
    ("predict a video", ["predict", "gender", "{c}/clip.mp4"], "is a video; predict reads photos: run `facesense live --source"),  # was 'not a readable image' and a training hint
    ("predict an image and no model", ["predict", "{c}/zero.jpg"], "predict takes a model, then images: e.g. `facesense predict expression {c}/zero.jpg`"),
    ("predict a model and no images", ["predict", "{c}/random.onnx"], "{c}/random.onnx is a model; give the images after it, e.g. `facesense predict {c}/random.onnx photo.jpg`"),  # offered it as the shipped expression model's photos
    ("predict an image and no model, with options", ["predict", "--device", "cpu", "--format=json", "{c}/zero.jpg"], "e.g. `facesense predict expression {c}/zero.jpg`"),  # quoted 'cpu' as the photo  # 'the following arguments are required: inputs'
    ("misspelt command", ["demoo"], "unknown command 'demoo'; did you mean 'demo'?"),
    ("misspelt data command", ["data", "inspct", "{c}/faces"], "unknown command 'inspct'; did you mean 'inspect'?"),
    ("misspelt option choice", ["predict", "gender", "{c}/faces", "--format", "jsn"], "invalid choice 'jsn'; did you mean 'json'?"),
    ("predict misspelt model name", ["predict", "expresion", "{c}/faces"], "did you mean expression?"),
    ("predict model of random bytes", ["predict", "{c}/random.onnx", "{c}/faces"], "random.onnx"),
    ("evaluate model for another task", ["evaluate", "gender", "--data", "{c}/fer.csv", "--out", "{c}/out/e"], "is a class of this task ['man', 'woman']: data for another task"),
    ("evaluate model of random bytes", ["evaluate", "{c}/random.pt", "--data", "{c}/faces", "--out", "{c}/out/e"], "random.pt"),
    # protobuf's DecodeError came through as a traceback, from the check for a gender+age model
    ("evaluate ONNX model of random bytes", ["evaluate", "{c}/random.onnx", "--data", "{c}/faces", "--out", "{c}/out/e"], "random.onnx: not a loadable ONNX model"),
    ("evaluate csv with wrong columns", ["evaluate", "gender", "--data", "{c}/wrong_columns.csv", "--out", "{c}/out/e"], "wrong_columns.csv"),
    ("evaluate labels.csv with missing files", ["evaluate", "gender", "--data", "{c}/manifest", "--out", "{c}/out/e"], "missing_a.png not found"),
    ("evaluate file as --out folder", ["evaluate", "gender", "--data", "{c}/faces", "--out", "{c}/a_file"], "a_file"),
    ("evaluate missing data", ["evaluate", "gender", "--data", "{c}/nope"], "nope"),
    ("live --photos-out for a video", ["live", "--source", "{c}/clip.mp4", "--no-window", "--photos-out", "{c}/out/ann"], "is for a photo folder or a photo"),
    ("live with one path for two outputs", ["live", "--source", "{c}/faces", "--no-window", "--log", "{c}/out/o.csv", "--photos-out", "{c}/out/o.csv"], "--log {c}/out/o.csv: is also --photos-out; give each output its own name"),  # refused only after every photo was written
    ("live --photos-out named as the summary's timeline", ["live", "--source", "{c}/faces", "--no-window", "--summary", "{c}/out/s.json", "--photos-out", "{c}/out/s_timeline.png"],
     "--summary {c}/out/s.json: its timeline {c}/out/s_timeline.png is also --photos-out; give --summary another name"),  # refused only after every photo was done, summary lost
    ("live --photos-out holding the photos", ["live", "--source", "{c}/faces", "--no-window", "--photos-out", "{c}"], "where the photos are read from"),
    # its bytes were read as a csv's: "a byte that is not UTF-8"
    ("evaluate a single photo as the data", ["evaluate", "gender", "--data", "{c}/faces/man/man_0.png", "--out", "{c}/out/e"], "a single image, not a dataset"),
    ("export calibrated on a video", ["export", "gender", "--int8", "--calibration", "{c}/clip.mp4", "--out", "{c}/out/g.int8.onnx"], "clip.mp4: a video, not a dataset"),
    # `--token "$TOKEN"` with the variable unset served the API to anyone
    ("serve with an empty --token", ["serve", "--token", ""], "--token is empty"),
    ("inspect csv with wrong columns", ["data", "inspect", "{c}/wrong_columns.csv", "--out", "{c}/out/i"], "wrong_columns.csv"),
    ("inspect labels.csv with missing files", ["data", "inspect", "{c}/manifest", "--out", "{c}/out/i"], "missing_a.png not found"),
    ("inspect a file where a dataset folder is expected", ["data", "inspect", "{c}/a_file", "--out", "{c}/out/i"], "a_file"),
    ("inspect file as --out folder", ["data", "inspect", "{c}/faces", "--out", "{c}/a_file"], "a_file"),
    # an output folder inside a folder dataset would be read as a class (or its plots as faces) next time
    ("inspect --out inside the dataset", ["data", "inspect", "{c}/faces", "--out", "{c}/faces/report"], "is inside the dataset folder"),
    ("split --out inside the dataset", ["data", "split", "{c}/faces", "--out", "{c}/faces/split"], "is inside the dataset folder"),
    ("evaluate --out inside the dataset", ["evaluate", "gender", "--data", "{c}/faces", "--out", "{c}/faces/man"], "is inside the dataset folder"),
    ("split an unreadable image", ["data", "split", "{c}/all_bad", "--out", "{c}/out/s"], "x.jpg: not a readable image"),  # was copied into the split
    ("train with nothing", ["train"], "train needs a config or a dataset: e.g. `facesense train configs/expression_fast.yaml"),  # "no dataset" said nothing of a config
    ("train an unreadable image", ["train", "data={c}/all_bad", "task=gender", "val_size=0", "runs_dir={c}/out/r"], "or add skip_bad=true to skip and list such samples"),
    ("split every image unreadable, --skip-bad", ["data", "split", "{c}/all_bad", "--skip-bad", "--out", "{c}/out/s"], "no readable images"),
    ("split file as --out folder", ["data", "split", "{c}/faces", "--out", "{c}/a_file"], "a_file"),
    # nothing left to score or train on: each was a scikit-learn or numpy traceback
    ("evaluate label map dropping every sample", ["evaluate", "gender", "--data", "{c}/faces", "--label-map", "{c}/map_drops_all.yaml", "--out", "{c}/out/e"], "the label map drops every sample"),
    ("evaluate label map to no class", ["evaluate", "gender", "--data", "{c}/faces", "--label-map", "{c}/map_typo.yaml", "--out", "{c}/out/e"], "sends 'woman' to 'womn', which is not a class"),
    ("evaluate every image skipped", ["evaluate", "gender", "--data", "{c}/all_bad", "--skip-bad", "--out", "{c}/out/e"], "no readable images to evaluate"),
    ("train label map of a label the data lacks", ["train", "data={c}/faces", "task=gender", "label_map={{nobody: man}}", "runs_dir={c}/out/r"], "the label map renames ['nobody'], which is no label of the data (its labels: ['man', 'woman'])"),  # trained as if no map were given
    ("train label map without the space after its colon", ["train", "data={c}/faces", "task=gender", "label_map={{man:null}}", "runs_dir={c}/out/r"], "YAML needs a space after each colon"),
    ("train skip_bad empties a class", ["train", "data={c}/half_bad", "task=gender", "skip_bad=true", "runs_dir={c}/out/r"], "1 image(s) were skipped as unreadable, e.g. woman/x.jpg"),  # said only 'only class man'
    ("evaluate --label-map of a label the data lacks", ["evaluate", "gender", "--data", "{c}/faces", "--label-map", "{c}/map_stray_key.yaml", "--out", "{c}/out/e"], "the label map renames ['nobody']"),
    ("evaluate age --label-map of a label the data lacks", ["evaluate", "age", "--data", "{c}/ages", "--label-map", "{c}/map_stray_key.yaml", "--out", "{c}/out/e"], "the label map renames ['nobody']"),  # the map was read by nothing
    ("train a config saved as Latin-1", ["train", "{c}/latin1.yaml"], "latin1.yaml: a byte that is not UTF-8 at line 2; save the file as UTF-8"),  # a UnicodeDecodeError traceback
    ("study a file saved as Latin-1", ["study", "{c}/latin1.yaml", "--out", "{c}/out/s"], "latin1.yaml: a byte that is not UTF-8 at line 2"),
    ("evaluate --label-map saved as Latin-1", ["evaluate", "gender", "--data", "{c}/faces", "--label-map", "{c}/latin1.yaml", "--out", "{c}/out/e"], "--label-map {c}/latin1.yaml: a byte that is not UTF-8"),
    ("study a folder", ["study", "{c}/faces", "--out", "{c}/out/s"], "faces: is a folder; study takes a study file"),  # 'study file ... not found'
    ("train with an ONNX export as the teacher", ["train", "data={c}/faces", "task=gender", "teacher={c}/random.onnx", "runs_dir={c}/out/r"], "teacher={c}/random.onnx: an ONNX export cannot teach"),  # 'not a readable checkpoint (UnpicklingError ...)'
    ("train from an ONNX export", ["train", "data={c}/faces", "task=gender", "init_from={c}/random.onnx", "runs_dir={c}/out/r"], "init_from={c}/random.onnx: an ONNX export cannot start a training"),
    ("split --group by the split column", ["data", "split", "{c}/fer_usage.csv", "--out", "{c}/out/s", "--group", "Usage"], "'Usage' is the data's split column"),  # 'this data has only images and labels'
    ("evaluate the folder a FER2013 csv lies in", ["evaluate", "expression", "--data", "{c}/fer_folder", "--out", "{c}/out/e"], "it holds fer2013.csv: give the csv itself as the data"),  # said only 'no class folders'
    ("train test_size holding out no row", ["train", "data={c}/faces", "task=gender", "test_size=0.01", "runs_dir={c}/out/r"], "test_size=0.01: every class's share of the 8 rows rounds to none held out"),
    ("train a data folder as the config", ["train", "{c}/faces"], "is a folder; train takes a config file, with the data as data=PATH"),  # 'config file faces not found'
    ("train a config after an override", ["train", "epochs=1", "{c}/unknown_key.yaml"], "unknown_key.yaml: the config file goes first"),  # "override '...yaml' is not key=value"
    ("train two config files", ["train", "{c}/wrong_type.yaml", "{c}/unknown_key.yaml"], "unknown_key.yaml: a run takes one config file"),
    ("train a mapping override the shell cut at its space", ["train", "data={c}/faces", "task=gender", "label_map={{man:", "woman}}", "runs_dir={c}/out/r"], "the value is cut off, as the shell splits words at spaces: quote the whole override"),  # a bare YAML error
    ("train label map dropping every sample", ["train", "data={c}/faces", "task=gender", "label_map={{man: null, woman: null}}", "runs_dir={c}/out/r"], "the label map drops every sample"),
    ("serve certificate that is no PEM", ["serve", "--ssl-certfile", "{c}/text.jpg", "--ssl-keyfile", "{c}/text.jpg", "--port", "0"], "not a PEM certificate"),
    ("train config with an unknown key", ["train", "{c}/unknown_key.yaml", "data={c}/faces", "runs_dir={c}/out/r"], "epochz"),
    ("train config with a wrong type", ["train", "{c}/wrong_type.yaml", "data={c}/faces", "runs_dir={c}/out/r"], "'many'"),
    ("train csv with wrong columns", ["train", "data={c}/wrong_columns.csv", "task=gender", "runs_dir={c}/out/r"], "wrong_columns.csv"),
    ("train labels.csv with missing files", ["train", "data={c}/manifest", "task=gender", "runs_dir={c}/out/r"], "missing_a.png not found"),
    ("train file as runs folder", ["train", "data={c}/faces", "task=gender", "epochs=1", "runs_dir={c}/a_file"], "a_file"),
    ("train --resume a folder that is no run", ["train", "--resume", "{c}/a_folder"], "a_folder"),
    # values that passed the checks and then failed mid-run (a library's traceback, or a run
    # folder left half-written), or were silently ignored
    ("train loss=bce on seven classes", ["train", "data={c}/fer.csv", "val_size=0.5", "loss=bce", "runs_dir={c}/out/r"], "loss=bce needs exactly 2 classes"),
    ("train freezing every layer", ["train", "data={c}/faces", "task=gender", "freeze=[0,1,3,4]", "runs_dir={c}/out/r"], "leaves no parameter to train"),
    ("train init_from random bytes", ["train", "data={c}/faces", "task=gender", "init_from={c}/random.pt", "runs_dir={c}/out/r"], "random.pt: not a readable PyTorch file"),
    ("train onnx_graph of random bytes", ["train", "data={c}/faces", "task=gender", "model=onnx_graph", "model_args.onnx={c}/random.onnx", "runs_dir={c}/out/r"], "random.onnx: not a loadable ONNX model"),
    ("train init_from a folder that is no run", ["train", "data={c}/faces", "task=gender", "init_from={c}/a_folder", "runs_dir={c}/out/r"], "a_folder: no best.pt or last.pt"),
    ("train negative rotation", ["train", "data={c}/faces", "task=gender", "augment.rotation=-5", "runs_dir={c}/out/r"], "augment.rotation must be in [0, 180]"),
    ("train zoom above 1", ["train", "data={c}/faces", "task=gender", "augment.zoom=1.5", "runs_dir={c}/out/r"], "augment.zoom must be in [0, 1)"),
    ("train erasing probability above 1", ["train", "data={c}/faces", "task=gender", "augment.erasing=1.5", "runs_dir={c}/out/r"], "augment.erasing must be in [0, 1]"),
    ("train label_smoothing above 1", ["train", "data={c}/faces", "task=gender", "label_smoothing=1.5", "runs_dir={c}/out/r"], "label_smoothing must be in [0, 1)"),
    ("train negative momentum", ["train", "data={c}/faces", "task=gender", "optimizer=sgd", "momentum=-1", "runs_dir={c}/out/r"], "momentum must be in [0, 1)"),
    ("train negative threads", ["train", "data={c}/faces", "task=gender", "threads=-3", "runs_dir={c}/out/r"], "threads must be >= 0"),
    ("train misspelt model_args key", ["train", "data={c}/faces", "task=gender", "model=resnet_fer_small", "model_args={{widht: 8}}", "runs_dir={c}/out/r"], "model_args.widht is none of its settings (did you mean 'width'?); its settings: width, dropout, stem_stride"),  # said in Python's words
    ("train model width 0", ["train", "data={c}/faces", "task=gender", "model=resnet_fer_small", "model_args={{width: 0}}", "runs_dir={c}/out/r"], "leave a layer with no weights"),
    ("train dropout above 1", ["train", "data={c}/faces", "task=gender", "model_args={{dropout: 1.5}}", "runs_dir={c}/out/r"], "dropout probability has to be between 0 and 1"),
    ("train input too small for the model", ["train", "data={c}/faces", "task=gender", "model=emotion_model_1", "image_size=8", "runs_dir={c}/out/r"], "too small for 4 2x poolings"),
    ("train val_size too small for the classes", ["train", "data={c}/faces", "task=gender", "val_size=0.01", "runs_dir={c}/out/r"], "val_size=0.01 holds out 1 of 8 samples"),
    ("train one split name twice", ["train", "data={c}/fer.csv", "val_split=val", "test_split=VAL", "runs_dir={c}/out/r"], "name the same split"),
    ("train a learning rate of nan", ["train", "data={c}/faces", "task=gender", "lr=nan", "runs_dir={c}/out/r"], "lr must be a number, got nan"),  # was torch's traceback
    ("train a probability of nan", ["train", "data={c}/faces", "task=gender", "augment.erasing=.nan", "runs_dir={c}/out/r"], "augment.erasing must be a number"),  # trained as if it were 0
    ("export a folder as --out", ["export", "gender", "--out", "{c}/a_folder"], "e.g. {c}/a_folder/model.onnx"),
    ("train min_lr above lr", ["train", "data={c}/faces", "task=gender", "lr_schedule=cosine", "lr=0.01", "min_lr=0.1", "runs_dir={c}/out/r"], "min_lr=0.1 must be below lr=0.01"),
    ("train one fold", ["train", "data={c}/faces", "task=gender", "folds=1", "runs_dir={c}/out/r"], "folds must be 0 (no k-fold) or >= 2"),
    ("train fold without folds", ["train", "data={c}/faces", "task=gender", "fold=2", "runs_dir={c}/out/r"], "fold=2 needs folds >= 2"),
    ("train swa_lr without swa_start", ["train", "data={c}/faces", "task=gender", "swa_lr=0.01", "runs_dir={c}/out/r"], "set swa_start too"),
    ("train early_stopping 0", ["train", "data={c}/faces", "task=gender", "early_stopping=0", "runs_dir={c}/out/r"], "early_stopping is a patience in epochs"),
    ("train name with a path in it", ["train", "data={c}/faces", "task=gender", "name=../../elsewhere", "runs_dir={c}/out/r"], "must be a folder name, without"),
    ("train runs_dir inside the dataset", ["train", "data={c}/faces", "task=gender", "runs_dir={c}/faces/runs"], "is inside the dataset folder"),
    # options that were silently ignored
    ("train --resume with a config", ["train", "--resume", "{c}/a_folder", "{c}/wrong_type.yaml"], "continues the run with its own config"),
    ("train bad override after -q", ["train", "data={c}/faces", "task=gender", "-q", "epochs=1", "epochs", "runs_dir={c}/out/r"], "override 'epochs' is not key=value"),  # named every word after -q unrecognized
    ("train --resume epochs=N", ["train", "--resume", "{c}/a_folder", "epochs=30"], "leave out 'epochs=30'; to train longer, raise epochs in its config.yaml"),  # found by a newcomer's trial
    ("export --calibration without --int8", ["export", "gender", "--calibration", "{c}/faces", "--out", "{c}/out/g.onnx"], "add --int8"),
    ("export --calibration-samples without --int8", ["export", "gender", "--calibration-samples", "7", "--out", "{c}/out/g.onnx"], "--calibration-samples 7: the number of images that calibrate int8 quantisation; add --int8"),  # was a float32 model, silently
    ("inspect an emotion code '²'", ["data", "inspect", "{c}/fer_superscript.csv", "--out", "{c}/out/i"], "emotion '²' is not a label code"),  # int() traceback
    ("live from camera '²'", ["live", "--source", "²", "--no-window"], "video ² not found"),  # int() traceback
    ("evaluate --split-from without --split", ["evaluate", "gender", "--data", "{c}/faces", "--split-from", "gender", "--out", "{c}/out/e"], "add --split"),
    ("export int8 calibrated on unreadable images", ["export", "gender", "--int8", "--calibration", "{c}/all_bad", "--out", "{c}/out/g.int8.onnx"], "none of the 2 images drawn could be read"),  # was a ValueError traceback
    ("export an ONNX file", ["export", "{c}/random.onnx", "--out", "{c}/out/x.onnx"], "is an ONNX model already"),  # 'not a readable checkpoint (UnpicklingError'
    ("export the gender_age network", ["export", "gender_age", "--out", "{c}/out/x.onnx"], "ships as an ONNX file only"),  # 'not found' while listing it
    ("export a dlib backend", ["export", "dlib-gender", "--out", "{c}/out/x.onnx"], "dlib-gender: a dlib network (an optional backend), not a facesense checkpoint"),  # 'not found' beside predict and live taking it
    ("export a missing model", ["export", "nosuch", "--out", "{c}/out/x.onnx"], "a shipped checkpoint's name (expression, gender, sentiment)"),  # listed gender_age, which export refuses
    ("serve a gender model as --sentiment", ["serve", "--sentiment", "gender", "--port", "0"], "--sentiment gender: is a gender model"),  # answered 'sentiment: woman'
    ("export a threshold for seven classes", ["export", "expression", "--threshold", "0.7", "--out", "{c}/out/x.onnx"], "--threshold needs a two-class model; this one has 7 classes"),
    # refused by the option (1.5: "must be <= 1") and then by export (1: "between 0 and 1 (exclusive)"): one rule now
    ("export a threshold of 1", ["export", "gender", "--threshold", "1", "--out", "{c}/out/x.onnx"], "argument --threshold: 1: must be < 1"),
    ("export model of random bytes", ["export", "{c}/random.pt", "--out", "{c}/out/x.onnx"], "random.pt"),
    ("export --out without extension", ["export", "gender", "--out", "{c}/out/model"], "use a .onnx name"),
    ("compare a folder that is no run", ["compare", "{c}/a_folder", "--out", "{c}/out/cmp"], "a_folder: not a run folder"),
    ("compare a missing path", ["compare", "{c}/nope", "--out", "{c}/out/cmp"], "nope: not found"),  # advised `train --resume nope`
    ("study missing file", ["study", "{c}/nope.yaml"], "nope.yaml"),
    ("study with unknown keys", ["study", "{c}/unknown_key.yaml", "--out", "{c}/out/s"], "epochz"),
    ("demo file as --out folder", ["demo", "--out", "{c}/a_file"], "a_file"),
    ("demo unknown age model", ["demo", "--age", "nosuch", "--out", "{c}/out/demo"], "--age nosuch: unknown age model; choose from age, dlib-age, gender_age, a gender+age network's run folder"),  # left demo_clip.mp4
    # a part of the path that is a file: said so, instead of 'Not a directory'
    ("demo --out under a file", ["demo", "--out", "{c}/a_file/demo"], "a_file is a file, not a folder"),
    ("inspect --out under a file", ["data", "inspect", "{c}/faces", "--out", "{c}/a_file/report"], "a_file is a file, not a folder"),
    ("evaluate --out under a file", ["evaluate", "gender", "--data", "{c}/faces", "--out", "{c}/a_file/e"], "a_file is a file, not a folder"),
    # checked before the scoring (it came after it, behind the notes; found by a docs audit)
    ("evaluate --out under a file", ["evaluate", "gender", "--data", "{c}/faces", "--out", "{c}/a_file/e"], "a_file is a file, not a folder"),
    ("compare --out under a file", ["compare", "{c}/a_folder", "--out", "{c}/a_file/c"], "a_file is a file, not a folder"),
    ("split --out under a file", ["data", "split", "{c}/faces", "--out", "{c}/a_file/s"], "a_file is a file, not a folder"),
    # found by a bug hunt
    ("inspect class folders holding split folders", ["data", "inspect", "{c}/class_then_split", "--out", "{c}/out/i"],
     "class_then_split: its class folders hold split folders (man/test, ...); facesense reads <split>/<class>/<images> (e.g. test/man/)"),
    ("split the dataset one folder up", ["data", "split", "{c}/one_up", "--out", "{c}/out/s"], "one_up: its one folder mydata holds the split folders test, train: give {c}/one_up/mydata as the data"),
    ("inspect files that are no images", ["data", "inspect", "{c}/not_images", "--out", "{c}/out/i"],
     "not_images/man/list.doc: not an image file (extension .doc) (1 more file(s) that cannot be used, e.g. {c}/not_images/man/notes.txt: not an image file (extension .txt)); move them out of the dataset, or add --skip-bad"),
    ("inspect a semicolon csv", ["data", "inspect", "{c}/semicolons.csv", "--out", "{c}/out/i"], "semicolons.csv: its columns are separated by ';', not commas (header 'path;label'); save it as comma-separated csv"),
    ("inspect a tab csv", ["data", "inspect", "{c}/tabs.csv", "--out", "{c}/out/i"], "tabs.csv: its columns are separated by tabs, not commas"),
    ("inspect an empty csv", ["data", "inspect", "{c}/empty.csv", "--out", "{c}/out/i"], "empty.csv: is empty (no header line)"),
    ("inspect a csv whose first line is blank", ["data", "inspect", "{c}/blank_first_line.csv", "--out", "{c}/out/i"], "blank_first_line.csv: its first line is blank (no header line)"),
    ("inspect a row whose file differs in case", ["data", "inspect", "{c}/spelled/case.csv", "--out", "{c}/out/i"], "w0.png not found ('W0.PNG' is there: names must match exactly, in case)"),
    ("inspect a row whose file differs in form", ["data", "inspect", "{c}/spelled/form.csv", "--out", "{c}/out/i"], "is there: names must match exactly, in Unicode's form too"),
    ("inspect a row naming a folder", ["data", "inspect", "{c}/spelled/folder.csv", "--out", "{c}/out/i"], "spelled/album is a folder, not an image"),
]


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("argv,expected", [pytest.param(a, e, id=i) for i, a, e in CASES])
def test_bad_input(corpus, argv, expected, capsys):
    before = snapshot(corpus)
    args = [a.format(c=corpus) for a in argv]
    code = main(args)
    out, err = capsys.readouterr()
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected.format(c=corpus) in lines[0], lines[0]
    assert "Traceback" not in err + out
    after = snapshot(corpus)
    assert after == before, f"files written or changed: {sorted(set(after.items()) ^ set(before.items()))}"


def test_corpus_covers_every_command():
    commands = {argv[0] for _, argv, _ in CASES} | {"data " + argv[1] for _, argv, _ in CASES if argv[0] == "data"}
    assert {"live", "predict", "evaluate", "data inspect", "data split", "train", "export", "compare", "study", "demo"} <= commands


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder whatever its permissions")
def test_unwritable_output_folder(corpus, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["live", "--no-window", "--source", str(corpus / "clip.mp4"), "--log", str(locked / "f.csv")]) == 2
        assert "is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_inspect_names_corrupt_images_and_evaluate_counts_the_skipped(corpus, tmp_path, capsys, caplog):
    import json

    data = write_class_folders(tmp_path / "d", ["man", "woman"], 4, colour=True, size=64)
    (data / "man" / "broken.jpg").write_bytes(encoded("JPEG")[:200])
    (data / "woman" / "empty.png").write_bytes(b"")
    assert main(["data", "inspect", str(data), "--out", str(tmp_path / "i")]) == 0
    report = json.loads((tmp_path / "i" / "summary.json").read_text())
    # each with why: a file cut short read like an empty one, or one too large (found by a bug hunt)
    truncated, empty = report["unreadable"].pop("reasons")  # (Pillow words a file cut short its own way)
    assert report["unreadable"] == {"count": 2, "files": ["man/broken.jpg", "woman/empty.png"], "counted": True}
    assert "truncated" in truncated.lower() and empty == "not a readable image (an empty file (0 bytes))"
    assert f"* man/broken.jpg: {truncated}" in (tmp_path / "i" / "report.md").read_text()
    assert "2 unreadable image(s): man/broken.jpg, woman/empty.png" in caplog.text
    assert main(["evaluate", "gender", "--data", str(data), "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "broken.jpg" in err or "empty.png" in err
    caplog.clear()
    assert main(["evaluate", "gender", "--data", str(data), "--out", str(tmp_path / "e"), "--skip-bad"]) == 0
    assert "skipped 2 unusable sample(s)" in caplog.text
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["n"] == 8
    # a file skipped as no image was only counted in report.md ("summary.json says why"), and not named on the console
    (data / "woman" / "notes.txt").write_text("x\n")
    caplog.clear()
    assert main(["data", "inspect", str(data), "--out", str(tmp_path / "i2"), "--skip-bad", "--no-duplicates"]) == 0
    page = (tmp_path / "i2" / "report.md").read_text()
    assert "Skipped 1 rows or files that could not be used" in page and "* woman/notes.txt: not an image file (extension .txt)" in page
    assert "skipped 1 row(s) or file(s) that could not be used (--skip-bad): woman/notes.txt; listed with why in" in caplog.text
