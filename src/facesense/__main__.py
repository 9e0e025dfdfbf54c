"""`python -m facesense ...`: the CLI without the console script (e.g. from a source tree on PYTHONPATH)."""

from .console import run

run()
