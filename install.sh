#!/usr/bin/env bash
# One-command set-up into the active Python (use a venv if you like): PyTorch first, because
# an unpinned `torch` can pull a multi-GB CUDA build; then facesense with its test extras.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
    # a known-good release; pip takes the CPU build where one is offered (a local wheel folder)
    "$PY" -m pip install "torch==2.13.0"
fi
"$PY" -m pip install -e ".[train,dev]"
