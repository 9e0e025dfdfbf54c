"""facesense: train, evaluate and run CNN classifiers for human affect in images."""

__version__ = "0.1.0"
