"""Per-group figures: numbers sort as numbers, and a gap is not made by groups of one or two."""

from facesense.eval.groups import gap, gap_note, natural_order


def test_groups_sort_numbers_as_numbers():
    assert sorted(["10", "100", "116", "12", "9", "Others", "(blank)"], key=natural_order) == ["9", "10", "12", "100", "116", "(blank)", "Others"]


def test_the_gap_leaves_out_groups_too_small_to_measure():
    values = {"a": 0.95, "b": 0.90, "tiny": 0.0}
    info = gap(values, {"a": 500, "b": 300, "tiny": 2})
    assert info["gap"] == 0.95 - 0.90 and info["left_out"] == ["tiny"]
    assert gap_note({"gap_min_n": info["min_n"], "gap_left_out": info["left_out"]}) == " (groups of n >= 30; 1 smaller left out)"
    everything_small = gap(values, {"a": 5, "b": 3, "tiny": 2})  # a tiny test set: all of them, said as no note
    assert everything_small["gap"] == 0.95 and everything_small["left_out"] == [] and gap_note({"gap_left_out": []}) == ""
