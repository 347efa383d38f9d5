"""Where the twin keeps its files.

The sample city's definition is committed under ``data/city/`` next to its recipe
``data/city.yaml``; everything generated from it (profiles, a year of measurements, the
measurement store) goes to the data directory, which is outside git.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that moves the data directory (generated measurements, store).
DATA_DIR_ENV = "TWIN_DATA_DIR"


def project_root() -> Path:
    """Return the checkout that holds ``data/city.yaml`` (the package is installed editable)."""
    return Path(__file__).resolve().parents[1]


def recipe_path() -> Path:
    """Return the path of the sample city's recipe, ``data/city.yaml``."""
    return project_root() / "data" / "city.yaml"


def city_dir() -> Path:
    """Return the folder with the sample city's committed definition files."""
    return project_root() / "data" / "city"


def data_dir() -> Path:
    """Return the data directory for generated files; ``$TWIN_DATA_DIR`` overrides the default.

    The default is ``data/generated`` in the checkout, which git ignores.
    """
    env = os.environ.get(DATA_DIR_ENV)
    path = Path(env) if env else project_root() / "data" / "generated"
    return path
