"""Counts of the real datasets in ../shared/data match its README (skipped when it is absent)."""

from conftest import shared_data
from facesense.data.sources import read_dataset


def test_fer2013_counts():
    s = read_dataset(shared_data("fer2013/fer2013.csv.gz"))
    assert s.splits.count("Training") == 28709 and s.splits.count("PublicTest") == 3589
    assert s.pixels.shape[1:] == (48, 48) and len(s.class_counts()) == 7


def test_gender_faces_counts():
    s = read_dataset(shared_data("gender_faces"))
    assert s.class_counts() == {"man": 1173, "woman": 1134}


def test_image_sentiment_counts():
    s = read_dataset(shared_data("image_sentiment"))
    assert s.class_counts() == {"Positive": 470, "Negative": 133}
    assert s.split_names() == [f"partition{i}" for i in range(1, 6)]
