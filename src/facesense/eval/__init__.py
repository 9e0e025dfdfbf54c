"""Evaluation: one ordered inference pass, metrics (numpy in, dict out), plots and reports."""
