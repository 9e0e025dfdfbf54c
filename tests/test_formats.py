import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import write_class_folders, write_fer_csv
from facesense.data.sources import detect_format, read_dataset


def test_class_folders_all_extensions(tmp_path):
    root = tmp_path / "ds"
    for ext in (".jpg", ".png", ".bmp", ".tiff", ".webp"):
        write_class_folders(root, ["man", "woman"], 2, colour=True, ext=ext)
    s = read_dataset(root)
    assert detect_format(root)[0] == "folders"
    assert len(s) == 20 and s.class_counts() == {"man": 10, "woman": 10}
    assert set(s.splits) == {None}


def test_split_folders(tmp_path):
    root = tmp_path / "ds"
    write_class_folders(root / "train", ["a", "b"], 4)
    write_class_folders(root / "validation", ["a", "b"], 2)
    write_class_folders(root / "test", ["a", "b"], 3)
    s = read_dataset(root)
    assert sorted(s.split_names()) == ["test", "train", "validation"]
    assert s.splits.count("train") == 8 and s.splits.count("validation") == 4 and s.splits.count("test") == 6


@pytest.mark.parametrize("name", ["fer.csv", "fer.csv.gz"])
def test_fer2013_csv_plain_and_gz(tmp_path, name):
    path = write_fer_csv(tmp_path / name, [0, 3, 6, 1], ["Training", "Training", "PublicTest", "PrivateTest"])
    s = read_dataset(path)
    assert detect_format(path)[0] == "fer2013"
    assert s.labels == ["angry", "happy", "neutral", "disgust"]  # codes become names at the door
    assert s.splits == ["Training", "Training", "PublicTest", "PrivateTest"]
    assert s.pixels.shape == (4, 48, 48) and s.pixels.dtype == np.uint8


def test_fer2013_without_usage(tmp_path):
    s = read_dataset(write_fer_csv(tmp_path / "f.csv", [2, 4]))
    assert s.splits == [None, None] and s.labels == ["fear", "sad"]


def test_manifest_with_partition(tmp_path):
    root = write_class_folders(tmp_path / "ds" / "images", ["Positive", "Negative"], 3, colour=True, ext=".jpg")
    lines = ["path,label,partition"]
    for i, p in enumerate(sorted(root.rglob("*.jpg"))):
        lines.append(f"{p.relative_to(tmp_path / 'ds')},{p.parent.name},partition{i % 2 + 1}")
    (tmp_path / "ds" / "labels.csv").write_text("\n".join(lines) + "\n")
    for target in (tmp_path / "ds", tmp_path / "ds" / "labels.csv"):
        s = read_dataset(target)
        assert len(s) == 6 and s.split_names() == ["partition1", "partition2"]
        assert all(p.is_file() for p in s.paths)


def test_forced_format(tmp_path, folders3):
    s = read_dataset(folders3, "folders")
    assert len(s) == 48
    copy = tmp_path / "copy"
    shutil.copytree(folders3, copy)
    assert len(read_dataset(copy, "folders")) == 48


def test_decode_on_threads_keeps_order_and_names_bad_files(tmp_path):
    from PIL import Image

    from facesense.data.images import decode
    from facesense.data.samples import Samples
    from facesense.errors import DataError
    from facesense.preprocess import InputSpec

    paths = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        if i == 7:
            path.write_bytes(b"not an image")
        else:
            Image.fromarray(np.full((20, 20), i * 20, np.uint8)).save(path)
        paths.append(path)
    samples = Samples(source="t", ids=[p.name for p in paths], labels=["a"] * 12, splits=[None] * 12, paths=paths)
    spec = InputSpec(size=8, channels=1)
    one, kept_one = decode(samples, spec, skip_bad=True, workers=1)
    samples.skipped.clear()
    four, kept_four = decode(samples, spec, skip_bad=True, workers=4)
    assert kept_four == kept_one == [i for i in range(12) if i != 7]
    assert np.array_equal(four, one) and [int(x[0, 0, 0]) for x in four] == [i * 20 for i in kept_one]
    assert [s[0] for s in samples.skipped] == ["7.png"]
    with pytest.raises(DataError, match="7.png"):
        decode(samples, spec, workers=4)
    with pytest.raises(ValueError, match="workers"):
        decode(samples, spec, workers=0)


def test_a_16_bit_grey_image_is_scaled_not_clipped(tmp_path):
    """Pillow's convert('L') clips 16-bit values: a mid-grey 16-bit PNG came out near-white."""
    import numpy as np
    from PIL import Image

    from facesense.data.images import read_image

    Image.fromarray(np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)).save(tmp_path / "g16.png")
    pixels = read_image(tmp_path / "g16.png")
    assert pixels.dtype == np.uint8 and pixels.min() == 0 and pixels.max() == 255 and abs(pixels.mean() - 127.5) < 1


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    """A JPEG stored upside down with orientation 3 ("rotate 180") reads upright, as viewers and
    the web app's decoder show it; predict, live and evaluate read it sideways before."""
    from PIL import Image

    from facesense.data.images import read_image
    from facesense.stream.frames import read_bgr_image

    upright = np.zeros((40, 60, 3), np.uint8)
    upright[:, :30] = 255  # white on the left
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_180).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    for pixels in (read_image(tmp_path / "phone.jpg"), read_bgr_image(tmp_path / "phone.jpg")):
        assert pixels.shape[:2] == (40, 60) and pixels[:, :30].mean() > 200 and pixels[:, 30:].mean() < 50
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "side.jpg", exif=exif, quality=95)
    side = read_image(tmp_path / "side.jpg")
    assert side.shape[:2] == (40, 60) and side[:, :30].mean() > 200  # width and height swap back



def test_a_photo_saved_without_an_image_suffix_is_read_as_a_photo(tmp_path):
    """`live --source photo` (a download saved as `photo` or `photo.jpg_large`) was opened as a
    video, which ignores the EXIF orientation: the box came out sideways and the summary said
    'video' (found by a bug hunt). Pillow's reading of the header decides."""
    from PIL import Image

    from facesense.data.images import is_photo_file
    from facesense.stream.frames import open_source

    exif = Image.Exif()
    exif[0x0112] = 6
    upright = np.zeros((40, 60, 3), np.uint8)
    upright[:, :30] = 255
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "photo_noext", format="JPEG", exif=exif, quality=95)
    (tmp_path / "clip.mp4").write_bytes(b"not really a video")
    (tmp_path / "notes").write_text("not an image")
    assert is_photo_file(tmp_path / "photo_noext") and not is_photo_file(tmp_path / "clip.mp4") and not is_photo_file(tmp_path / "notes")
    Image.fromarray(upright).save(tmp_path / "scan.ppm")  # a format Pillow reads beyond the usual suffixes (an allow-list dropped it; review)
    assert is_photo_file(tmp_path / "scan.ppm")
    source = open_source(str(tmp_path / "photo_noext"))
    [frame] = list(source)
    assert getattr(source, "photos", False) and frame.image.shape[:2] == (40, 60)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_phone_photos_of_48_to_108_megapixels_are_read_and_pillow_keeps_quiet(tmp_path):
    """An 8000 x 6000 phone photo was refused at the web app's 40-megapixel upload limit, and a
    photo with damaged EXIF data printed Pillow's UserWarning with a path into site-packages
    (found by a bug hunt). A file's limit is now 150 megapixels, checked from its header."""
    from PIL import Image

    from facesense.data.images import check_image_size
    from facesense.errors import DataError
    from serving import bomb_png

    for name, (w, h) in {"48mp.png": (8000, 6000), "108mp.png": (12000, 9000)}.items():
        (tmp_path / name).write_bytes(bomb_png(w, h))
        check_image_size(tmp_path / name)  # passes: no pixel is decoded here
    (tmp_path / "bomb.png").write_bytes(bomb_png(16000, 10000))
    with pytest.raises(DataError, match="16000 x 10000 pixels is over the limit of 150,000,000"):
        check_image_size(tmp_path / "bomb.png")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "exif.jpg", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00\x12\x01\x03\x00\x01")
    done = subprocess.run([sys.executable, "-m", "facesense", "predict", "gender", "--crops", str(tmp_path / "exif.jpg")], capture_output=True, text=True)
    assert done.returncode == 0 and "Corrupt EXIF" not in done.stderr  # in a process of its own: pytest catches warnings itself

def test_a_float_grey_tiff_is_scaled_not_black(tmp_path):
    from PIL import Image

    from facesense.data.images import read_image

    Image.fromarray(np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32), mode="F").save(tmp_path / "f.tiff")
    pixels = read_image(tmp_path / "f.tiff")
    assert pixels.dtype == np.uint8 and pixels.max() == 255 and abs(pixels.mean() - 127.5) < 1


def test_images_outside_any_class_folder_are_named_as_left_out(tmp_path, caplog):
    """`data inspect photos/` on a photo folder with one subfolder said only "one class ('sub')"."""
    from PIL import Image

    root = write_class_folders(tmp_path / "ds", ["a", "b"], 2)
    Image.new("RGB", (8, 8)).save(root / "loose.png")
    assert len(read_dataset(root)) == 4 and "1 image(s) directly in the folder belong to no class folder" in caplog.text
    split = tmp_path / "split"  # the root of a train/test layout too
    write_class_folders(split / "train", ["a", "b"], 2)
    write_class_folders(split / "test", ["a", "b"], 1)
    Image.new("RGB", (8, 8)).save(split / "stray.png")
    caplog.clear()
    assert len(read_dataset(split)) == 6 and f"{split}: 1 image(s) directly in the folder" in caplog.text
    (root / "a" / ".thumbnails").mkdir()
    Image.new("RGB", (8, 8)).save(root / "a" / ".thumbnails" / "t.png")  # a viewer's cache: not a face of class a
    assert len(read_dataset(root)) == 4


def test_transparent_pixels_are_read_as_a_viewer_shows_them_over_white(tmp_path):
    """convert('RGB') dropped the alpha: a fully transparent PNG whose stored colours were a
    photo was analysed as that photo ("1 face"), and a cut-out came out on black (found by a bug
    hunt). Opaque pixels and images without alpha are unchanged."""
    from PIL import Image

    from facesense.data.images import read_image

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 40
    rgba[:4, :, 3] = 255  # the top half opaque, the bottom half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cut.png")
    pixels = read_image(tmp_path / "cut.png")
    assert pixels.shape == (8, 8, 3) and (pixels[:4] == 40).all() and (pixels[4:] == 255).all()
    grey = Image.fromarray(np.stack([np.full((8, 8), 40, np.uint8), np.full((8, 8), 128, np.uint8)], -1), "LA")
    grey.save(tmp_path / "half.png")
    assert read_image(tmp_path / "half.png").shape == (8, 8) and abs(int(read_image(tmp_path / "half.png")[0, 0]) - (40 * 128 + 255 * 127) / 255) <= 1
    from facesense.data.images import pil_pixels

    assert pil_pixels(Image.new("La", (4, 4))).shape == (4, 4)  # "conversion from La to L not supported" made it unreadable
    deep = np.full((4, 4), 40000, np.uint16)
    deep[0, 0] = 1000
    Image.fromarray(deep).save(tmp_path / "key16.png", transparency=40000)  # a 16-bit grey PNG's transparent level
    assert (read_image(tmp_path / "key16.png").ravel()[1:] == 255).all() and read_image(tmp_path / "key16.png")[0, 0] < 255
    Image.fromarray(np.full((8, 8, 3), 40, np.uint8)).save(tmp_path / "plain.png")
    assert (read_image(tmp_path / "plain.png") == 40).all()
