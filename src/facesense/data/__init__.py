"""Datasets: ingest (folders, FER2013 csv, labels.csv) -> Samples; splits; decoding; batches."""
