"""Where the twin keeps its generated files.

A city is an input (``twin.city.read_city(folder)``, the CLI's ``--city``); this module only
knows the checkout and the data directory, where generated files go (profiles, a year of
measurements, the measurement store), outside git.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that moves the data directory (generated measurements, store).
DATA_DIR_ENV = "TWIN_DATA_DIR"


def project_root() -> Path:
    """Return the checkout (the package is installed editable)."""
    return Path(__file__).resolve().parents[1]


def city_dir() -> Path:
    """Return the sample city's folder ``data/city`` (the CLI's ``--city`` default)."""
    return project_root() / "data" / "city"


def data_dir() -> Path:
    """Return the data directory for generated files; ``$TWIN_DATA_DIR`` overrides the default.

    The default is ``data/generated`` in the checkout, which git ignores. A city other than
    the sample city keeps its own (``twin.city.City.data_dir``).
    """
    env = os.environ.get(DATA_DIR_ENV)
    path = Path(env) if env else project_root() / "data" / "generated"
    return path
