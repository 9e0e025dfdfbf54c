"""Name -> architecture factory (timm-style), with each model's default input spec."""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..errors import ConfigError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    factory: Callable[..., nn.Module]
    description: str
    default_size: int
    default_channels: int
    default_classes: int


_REGISTRY: dict[str, ModelInfo] = {}


def register(name: str, description: str, size: int, channels: int, classes: int):
    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name] = ModelInfo(name, factory, description, size, channels, classes)
        return factory

    return wrap


def _load_architectures() -> None:
    # importing the modules runs their @register decorators
    from . import efficientnet_lite, modern, onnx_graph, source_a, source_b  # noqa: F401


def list_models() -> list[ModelInfo]:
    _load_architectures()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_info(name: str) -> ModelInfo:
    _load_architectures()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown model {name!r}.{hint} Registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def _check_arg_types(name: str, factory: Callable, kwargs: dict) -> None:
    """A model_args value of another type than its default's (width=abc) failed deep inside
    the factory with Python's own words ("not all arguments converted during string formatting")."""
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        # a misspelt key (widht=8) was said in Python's words, "unexpected keyword argument"
        settings = [k for k in params if k not in ("num_outputs", "in_channels", "image_size")]
        for key in kwargs:
            if key not in params:
                close = difflib.get_close_matches(str(key), settings, n=1)
                raise ConfigError(f"model {name!r}: model_args.{key} is none of its settings{f' (did you mean {close[0]!r}?)' if close else ''}; "
                                  f"its settings: {', '.join(settings) or 'none'}")
    for key, value in kwargs.items():
        default = params[key].default if key in params else inspect.Parameter.empty
        if default is inspect.Parameter.empty or default is None:
            continue
        if isinstance(default, bool):
            kind, fits = "true or false", isinstance(value, bool)
        elif isinstance(default, (int, float)):
            kind, fits = "a number", isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, str):
            kind, fits = "text", isinstance(value, str)
        elif isinstance(default, (list, tuple)):
            kind, fits = "a list", isinstance(value, (list, tuple))
        else:
            continue
        if not fits:
            raise ConfigError(f"model {name!r}: model_args.{key}={value!r} must be {kind} (its default is {default!r})")


def build_model(name: str, num_outputs: int, in_channels: int, image_size: int, **kwargs) -> nn.Module:
    _check_arg_types(name, get_info(name).factory, kwargs)
    try:
        with warnings.catch_warnings():  # said below, in one line
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            model = get_info(name).factory(num_outputs=num_outputs, in_channels=in_channels, image_size=image_size, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: bad model_args {kwargs} ({exc})") from None
    except (ValueError, RuntimeError) as exc:  # a width of 0, a dropout above 1, an input too small for the poolings
        raise ConfigError(f"model {name!r} with image_size={image_size} and model_args {kwargs}: {' '.join(str(exc).split())}") from None
    if any(p.numel() == 0 for p in model.parameters()):
        raise ConfigError(f"model {name!r}: model_args {kwargs} leave a layer with no weights; use widths of at least 1")
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
