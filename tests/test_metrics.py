"""Metrics on evaluation sets that lack some of the task's classes (a six-class dataset mapped onto
seven): macro-F1 averages over the classes present, as balanced accuracy does, and the report
names the absent ones."""

import numpy as np
import pytest
from sklearn import metrics as skm

from facesense.eval.metrics import classification_metrics, group_metrics, macro_f1
from facesense.eval.report import markdown_report

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def one_hot(pred: list[int], k: int = 7) -> np.ndarray:
    probs = np.full((len(pred), k), 0.01)
    probs[np.arange(len(pred)), pred] = 1.0
    return probs / probs.sum(1, keepdims=True)


def test_perfect_predictions_on_six_of_seven_classes_score_macro_f1_one():
    y = np.array([0, 2, 3, 4, 5, 6] * 3)  # no 'disgust'
    m = classification_metrics(y, one_hot(list(y)), CLASSES)
    assert m["accuracy"] == 1.0 and m["balanced_accuracy"] == 1.0
    assert m["macro_f1"] == pytest.approx(1.0)  # averaged over all seven it would be 6/7
    assert m["absent_classes"] == ["disgust"]
    assert m["per_class"]["disgust"]["support"] == 0


def test_a_prediction_of_an_absent_class_still_counts_against_the_true_class():
    y = np.array([0, 0, 2, 2])
    pred = [0, 1, 2, 2]  # one 'angry' face called 'disgust', which the set lacks
    m = classification_metrics(y, one_hot(pred), CLASSES)
    angry_f1 = 2 * 1.0 * 0.5 / 1.5
    assert m["macro_f1"] == pytest.approx((angry_f1 + 1.0) / 2)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, labels=[0, 2], average="macro"))
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["absent_classes"] == ["disgust", "happy", "sad", "surprise", "neutral"]


def test_all_classes_present_is_plain_macro_f1():
    rng = np.random.default_rng(0)
    y = np.tile(np.arange(7), 10)
    pred = rng.integers(0, 7, len(y))
    m = classification_metrics(y, one_hot(list(pred)), CLASSES)
    assert m["absent_classes"] == []
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, labels=list(range(7)), average="macro", zero_division=0))
    assert "Absent from the labels" not in markdown_report(m, "t")


def test_macro_f1_helper_edge_cases():
    assert macro_f1(np.array([], dtype=int), np.array([], dtype=int), 3) == 0.0
    assert macro_f1(np.array([1, 1]), np.array([1, 0]), 3) == pytest.approx(2 * 1 * 0.5 / 1.5)


def test_group_macro_f1_uses_each_groups_present_classes():
    y = np.array([0, 0, 2, 2, 3, 3])
    groups = ["a", "a", "a", "a", "b", "b"]
    g = group_metrics(y, one_hot(list(y)), groups, CLASSES)["groups"]
    # b holds one class: its F1 would be 2r/(1+r) whatever the model says of other faces (precision 1), so none
    assert g["a"]["macro_f1"] == pytest.approx(1.0) and g["b"]["macro_f1"] is None


def test_report_names_the_absent_classes():
    y = np.array([0, 2, 3, 4, 5, 6] * 2)
    m = classification_metrics(y, one_hot(list(y)), CLASSES)
    text = markdown_report(m, "six of seven")
    assert "Absent from the labels: 'disgust'. Macro-F1, balanced accuracy and ROC AUC average over the 6 classes present." in text
    assert "| disgust (absent) | - | - | - | 0 |" in text  # never predicted either: 0/0, not a precision of 0 (found by a bug hunt)
    wrong = one_hot(list(y))
    wrong[0] = one_hot([1])[0]  # predicted once, wrongly: a precision of 0
    assert "| disgust (absent) | 0.000 | - | - | 0 |" in markdown_report(classification_metrics(y, wrong, CLASSES), "six of seven")
    # a class present but never predicted has no precision either (found by review)
    never = classification_metrics(np.array([0, 0, 1]), one_hot([0, 0, 0], 2), ["a", "b"])
    assert "| b | - | 0.000 | 0.000 | 1 |" in markdown_report(never, "t") and never["per_class"]["b"]["precision"] == 0.0


def test_binary_rates_of_a_class_absent_from_the_labels_are_undefined_not_zero():
    """With every 'woman' row mapped away, TPR and FNR printed 0.000 each (they sum to 1 when
    defined): there is nothing to count, which the report shows as '-' (found by a bug hunt)."""
    from facesense.eval.report import markdown_report

    y = np.zeros(10, dtype=int)
    probs = np.tile([0.9, 0.1], (10, 1))
    probs[0] = [0.2, 0.8]
    m = classification_metrics(y, probs, ["man", "woman"])
    assert m["binary"]["tpr"] is None and m["binary"]["fnr"] is None
    assert m["binary"]["fpr"] == pytest.approx(0.1) and m["binary"]["tnr"] == pytest.approx(0.9)
    assert "TPR -, FPR 0.100, TNR 0.900, FNR -" in markdown_report(m, "t")


def test_probabilities_that_are_not_numbers_are_refused_not_scored():
    """argmax picks a NaN's column: [[nan, .5], [.2, .8]] with labels [0, 1] scored accuracy 1.0
    and ROC AUC 1.0 (found by an audit)."""
    import numpy as np
    import pytest

    from facesense.errors import FacesenseError
    from facesense.eval.metrics import classification_metrics

    with pytest.raises(FacesenseError, match="not numbers \\(NaN or inf\\) for 1 of 2 images"):
        classification_metrics(np.array([0, 1]), np.array([[np.nan, 0.5], [0.2, 0.8]]), ["a", "b"])

    from facesense.eval.age import age_metrics  # noqa: F401 (the age report refuses them too: refuse_non_finite)
    from facesense.eval.metrics import refuse_non_finite

    with pytest.raises(FacesenseError, match="for 1 of 3 images"):
        refuse_non_finite(np.array([[0.2, 0.8], [0.5, 0.5], [np.inf, 0.0]]))
    refuse_non_finite(np.zeros((0, 2)))


def test_evaluate_loss_is_the_true_class_log_loss_not_capped_per_image():
    """A diverged run's eval_val said loss 8.97 (cross-entropy of its logits) and evaluate said
    6.41 on the same 80 rows: evaluate floored each true-class probability at 1e-12, capping an
    image at 27.6; only a probability the float32 output rounded to 0 is floored now."""
    from facesense.eval.evaluate import mean_log_loss

    probs = np.array([[1 - 1e-20, 1e-20], [0.5, 0.5], [1.0, 0.0]])
    y = np.array([1, 0, 1])
    loss = mean_log_loss(y, probs)
    capped = -np.log(float(np.finfo(np.float32).smallest_subnormal))
    assert loss == pytest.approx((-np.log(1e-20) - np.log(0.5) + capped) / 3)
    assert np.isfinite(loss)
    # what training's cross-entropy of the logits says of the same outputs, where none rounds to 0
    torch = pytest.importorskip("torch")

    logits = torch.tensor([[0.0, -46.0], [3.0, 3.0]], dtype=torch.float64)
    target = torch.tensor([1, 0])
    softmax = torch.softmax(logits.float(), 1).double().numpy()
    assert mean_log_loss(target.numpy(), softmax) == pytest.approx(torch.nn.functional.cross_entropy(logits, target).item(), rel=1e-4)


def test_the_majority_baseline_says_whose_majority_it_is():
    """A run's own report takes the majority of its training labels, evaluate that of the labels
    it scores; both were called "majority baseline" alike (found by a bug hunt)."""
    from facesense.eval.report import markdown_report

    y = np.array([0, 0, 1])
    own = classification_metrics(y, one_hot(list(y), 2), ["a", "b"], train_labels=np.array([1, 1, 1, 0]))
    assert own["baseline"] == {"majority_class": "b", "majority_of": "training labels", "accuracy": pytest.approx(1 / 3)}
    assert "('b', of training) |" in markdown_report(own, "t")
    scored = classification_metrics(y, one_hot(list(y), 2), ["a", "b"])
    assert scored["baseline"]["majority_of"] == "these labels" and "('a') |" in markdown_report(scored, "t")


def test_a_majority_baseline_of_tied_training_classes_gives_each_ones_score():
    """A run trained on a:2 b:2 said its test's majority baseline was 0.2000 ('a', of training)
    where always 'b', as much training's majority, scores 0.8: data inspect gives the range since
    the tied naive baseline was fixed there, a run's own report did not."""
    from facesense.eval.report import markdown_report

    y = np.array([1, 1, 1, 1, 0])
    m = classification_metrics(y, one_hot(list(y), 2), ["a", "b"], train_labels=np.array([0, 0, 1, 1]))
    assert m["baseline"]["tied_classes"] == ["a", "b"] and m["baseline"]["accuracy_range"] == [pytest.approx(0.2), pytest.approx(0.8)]
    assert "| 0.2000-0.8000 (one of 'a', 'b', tied in training) |" in markdown_report(m, "t")
    untied = classification_metrics(y, one_hot(list(y), 2), ["a", "b"], train_labels=np.array([0, 1, 1]))
    assert "tied_classes" not in untied["baseline"] and "| 0.8000 ('b', of training) |" in markdown_report(untied, "t")


def test_a_long_step_says_how_far_it_is(caplog):
    """Reading and scoring 13,642 UTKFace images took 17 s with no word (found by a newcomer's
    trial): a line every few seconds, none for a short step, none once it is done."""
    from facesense.progress import Progress

    now = [0.0]
    progress = Progress("reading images", 100, every_s=10, clock=lambda: now[0])
    with caplog.at_level("INFO", logger="facesense"):
        for _ in range(100):
            now[0] += 0.25
            progress()
    assert [r.getMessage() for r in caplog.records] == ["reading images: 40 of 100 (40%), 10 s so far, about 15 s left",
                                                         "reading images: 80 of 100 (80%), 20 s so far, about 5 s left"]
