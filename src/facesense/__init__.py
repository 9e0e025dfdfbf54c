"""facesense: train, evaluate and run CNN classifiers for human affect in images.

The Python API (`facesense.api`): analyse_image, FaceAnalyser (analyse, classify, stream),
image_sentiment, SentimentAnalyser (score), evaluate, face_dict, and PipelineSettings (what `stream` takes as `settings`). Names load on first use, so `import facesense` is cheap and has no side effects.
"""

__version__ = "0.1.0"

__all__ = ["FaceAnalyser", "analyse_image", "SentimentAnalyser", "image_sentiment", "evaluate", "face_dict", "PipelineSettings", "FacesenseError", "SourceFailed"]


def __getattr__(name: str):
    if name in ("FaceAnalyser", "analyse_image", "SentimentAnalyser", "image_sentiment", "evaluate", "face_dict"):
        from . import api

        return getattr(api, name)
    if name == "PipelineSettings":
        from .stream.pipeline import PipelineSettings

        return PipelineSettings
    if name in ("FacesenseError", "SourceFailed"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'facesense' has no attribute {name!r}")


def __dir__() -> list[str]:
    # dir() and tab completion list the lazily loaded API names too
    return sorted([*globals(), *__all__])
