"""Model registry: every architecture is built by name for any class count, channels and size."""

from .registry import ModelInfo, build_model, count_parameters, get_info, list_models
from .tta import ViewAveraged, with_test_time_views

__all__ = ["ModelInfo", "ViewAveraged", "build_model", "count_parameters", "get_info", "list_models", "with_test_time_views"]
