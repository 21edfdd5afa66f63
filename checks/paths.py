"""Where things are: the repository, its data files, the default environment, and the names of the files
that ``invoke setup`` leaves in an environment it owns. Standard library only; every other module asks here.

``OWNER`` is written first, when setup creates the directory: only a directory that carries it (or
``MARKER``) may ever be deleted. ``MARKER`` is written last, atomically, once the environment answers as
complete: an environment without it is incomplete.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: fix lines are run from here
ENVS = ROOT / "envs"
MATRIX_PATH = ENVS / "matrix.json"
LOCK_DIR = ENVS / "locks"
DEFAULT_ENV = ROOT / ".venv-tf"  # the TensorFlow backend's


def default_env(backend: str = "tensorflow") -> Path:
    """Where setup builds a backend's environment without ``--env``: .venv-tf, .venv-torch, .venv-jax."""
    return DEFAULT_ENV if backend == "tensorflow" else ROOT / (".venv-%s" % backend)

OWNER = ".tfmetal-owner"
MARKER = ".tfmetal-setup.json"


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one directory (links resolved)."""
    return os.path.realpath(str(a)) == os.path.realpath(str(b))
