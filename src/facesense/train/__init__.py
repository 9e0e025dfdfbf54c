"""Training: the fit loop and its policies."""
