"""Model registry: every architecture is built by name for any class count, channels and size."""

from .mirror import MirrorAveraged
from .registry import ModelInfo, build_model, count_parameters, get_info, list_models

__all__ = ["MirrorAveraged", "ModelInfo", "build_model", "count_parameters", "get_info", "list_models"]
