#!/usr/bin/env bash
# Set-up: a virtual environment (.venv beside this file; an already active one is used, and .venv
# then points to it) with PyTorch, facesense (editable) and the test tools. Works with a stock
# Debian/Ubuntu python3, which has no pip and refuses system-wide installs (PEP 668): it needs
# only python3-venv.
#
#   bash install.sh && . .venv/bin/activate
#
# PyTorch: the CPU build from PyTorch's own index when that index answers (PyPI's default Linux
# wheel is the multi-GB CUDA build); otherwise whatever the configured index offers. The last
# line says which build was installed.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH=${FACESENSE_TORCH:-torch==2.13.0}
CPU_INDEX=https://download.pytorch.org/whl/cpu

if ! command -v "$PY" >/dev/null; then
    echo "error: $PY not found; install Python 3.10 or newer (Debian/Ubuntu: apt install python3 python3-venv)" >&2
    exit 2
fi
if [[ -z ${VIRTUAL_ENV:-} ]]; then
    if [[ ! -x .venv/bin/python ]]; then
        if ! "$PY" -m venv .venv 2>/dev/null; then
            rm -rf .venv
            echo "error: '$PY -m venv' does not work here; install the venv module (Debian/Ubuntu: apt install python3-venv) and run again" >&2
            exit 2
        fi
    fi
    PY=$PWD/.venv/bin/python
    echo "facesense goes into $PWD/.venv (activate it with: . .venv/bin/activate)"
else
    PY=$VIRTUAL_ENV/bin/python
    # so that the set-up line's '. .venv/bin/activate' works here too
    if [[ -L .venv && ! -e .venv ]]; then
        rm .venv  # a link to a venv that is gone
    fi
    if [[ ! -e .venv ]]; then
        ln -s "$VIRTUAL_ENV" .venv
        echo "facesense goes into the active venv $VIRTUAL_ENV (.venv here points to it)"
    elif [[ "$(cd .venv && pwd -P)" != "$(cd "$VIRTUAL_ENV" && pwd -P)" ]]; then
        echo "facesense goes into the active venv $VIRTUAL_ENV, not into .venv here (another venv): use $VIRTUAL_ENV/bin/activate" >&2
    fi
fi

if ! "$PY" -c "import torch" 2>/dev/null; then
    if "$PY" -c "import urllib.request, sys; urllib.request.urlopen('$CPU_INDEX/torch/', timeout=5)" 2>/dev/null; then
        echo "PyTorch: from its CPU index ($CPU_INDEX)"
        "$PY" -m pip install --extra-index-url "$CPU_INDEX" "$TORCH"
    else
        echo "PyTorch: from your configured package index (PyTorch's CPU index, $CPU_INDEX, is not reachable from here; the last lines say which build was installed)"
        "$PY" -m pip install "$TORCH"
    fi
fi
"$PY" -m pip install -e ".[train,dev]"
"$PY" -c "import torch; print('PyTorch', torch.__version__, '(CPU build)' if torch.version.cuda is None else f'(CUDA {torch.version.cuda} build)')"
"$PY" -m facesense --version
