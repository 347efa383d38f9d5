"""What ``twin city import`` reports, and its one kind of error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


class CityImportError(ValueError):
    """Input ``twin city import`` cannot use; the message names file, line and column."""


@dataclass
class ImportReport:
    """What :func:`import_city` read, derived and could not map.

    Attributes
    ----------
    folder : Path
        The city folder written.
    sources : dict
        What each part was read from (``electric``, ``water``, registers).
    counts : dict
        What the city holds (buses, loads, junctions, DMAs, customers, …).
    zones : DataFrame
        Per zone: ``junctions``, ``demand_junctions``, ``meters`` (bounding it) and
        ``bounded`` (False for a zone no meter bounds).
    unmapped : dict
        Rows of a register mapped to no element, counted by what they lacked.
    notes : list of str
        Everything else worth knowing (meters that bound nothing, pumps not coupled, …).
    """

    folder: Path
    sources: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    zones: pd.DataFrame = field(default_factory=pd.DataFrame)
    unmapped: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
