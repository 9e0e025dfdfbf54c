"""Schema versions of the files facesense writes. Every CSV has a `schema_version` column and
every JSON / JSON-lines record a `schema_version` key; docs/outputs.md lists each file's columns
and keys. A version goes up when a column or key changes meaning or goes away (adding one does
not change it), so a reader can refuse a file it does not understand."""

from __future__ import annotations

KEY = "schema_version"

VERSIONS = {
    "frames": 3,  # live/demo per-face rows: frames.csv, frames.jsonl (2: a source column on every row, where 1 had photo for image folders only; 3: a model that is off leaves its keys out of JSON lines, where 2 wrote "")
    "live_summary": 2,  # live/demo summary.json (2: faces counts found faces only, held_boxes the rest)
    "predictions": 1,  # evaluate: predictions.csv
    "age_metrics": 3,  # evaluate of an age model: age_metrics.json; a gender+age run: eval_val/metrics.json (2: the group gaps' gap_ci95 widened for the number of groups, one-class groups left out of gender_by_group's gap; 3: the rows without a value, (blank), no side of a gap)
    "age_predictions": 2,  # evaluate of an age model: age_predictions.csv (2: --group-by age's column is age_group, in decades, where 1 repeated the age column)
    "metrics": 4,  # evaluate: metrics.json (2: by_group's accuracy_gap over groups of at least gap_min_n samples, where 1 took every group; 3: its gap_ci95 widened for the number of groups and a group of one class left out, where 2 took the two groups' 95% intervals; 4: a group of one class has macro_f1 null, where 3 gave its one class's F1, and the rows without a value are no side of the gap)
    "history": 1,  # train: history.csv
    "train_summary": 1,  # train: train_summary.json
    "labels": 1,  # train: labels.json
    "split_manifest": 1,  # train: split_manifest.csv; data split: split_manifest.csv
    "skipped": 1,  # train: skipped.csv
    "inspect_summary": 1,  # data inspect: summary.json
    "compare": 1,  # compare: compare.csv
    "study": 2,  # study: study.csv, study.json (2: ci95_low/high null where the seeds do not spread, and test_* columns where every run held out a test split, which the answers are then on)
    "predict": 3,  # predict: CSV or JSON on stdout (2: pred null in JSON for a photo without a face or unreadable, where 1 had ""; 3: an age model's pred is a number in JSON, where 2 had its text)
}


def stamped(kind: str, record: dict) -> dict:
    """`record` with its schema version as the first key."""
    return {KEY: VERSIONS[kind], **record}
