"""The SCADA tag map: which element of the city a historian tag measures, what, and in what unit.

A utility writes one CSV (its historian's point list) that maps every tag of its exports to an
element of the city's networks, a quantity and the unit the historian writes::

    tag,element,quantity,unit,description
    PT_1023.PV,1023,pressure,psi,pressure logger Elm Street
    FIT-07 Flow,FM-07,flow,GPM,DMA 2 inlet
    LT_TANK2,2,level,%,tank 2 level (percent of its maximum level)
    P-10 RUN,10,pump_status,-,pump 10 running
    FDR_F3_MW,F3,active_power,MW,feeder F3 head

Columns, quantities and units are declared once here, as data (:data:`COLUMNS`,
:data:`QUANTITIES`); :func:`describe` lists them for documentation. Every value ingested
through the map is converted to its quantity's store unit (:attr:`Quantity.store_unit`: m,
L/s, m, kW, MW, ...); the unit the historian wrote stays in the map (``unit``) and in the
store's copy of it (:meth:`TagMap.table`). The store keeps the utility's tag as the series id.

A map naming an element the city does not have, an unknown quantity or unit, a tag given
twice or a missing column is refused by :func:`read_tag_map` with one line naming the file,
line and column (:class:`TagMapError`).
"""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass, field

import fsspec
import numpy as np
import pandas as pd

#: The tag map's file name in a city folder (``twin ingest --city DIR`` reads it there).
CITY_FILE = "scada_tags.csv"
#: Density of water times gravity [Pa per m of head] (1000 kg/m3 x 9.80665 m/s2).
RHO_G_PA_PER_M = 1000.0 * 9.80665
#: One US gallon [L].
US_GALLON_L = 3.785411784
#: One pound-force per square inch [Pa].
PSI_PA = 6894.757293168


@dataclass(frozen=True)
class Unit:
    """A unit a historian may write: its name, spellings, and conversion to the store unit.

    ``store = value * factor + offset``; ``per_element`` units need a factor from the
    element (a tank's maximum level for a level in %).
    """

    name: str
    factor: float
    aliases: tuple[str, ...] = ()
    offset: float = 0.0
    per_element: str = ""  # "tank_max_level" for % of a tank's maximum level


@dataclass(frozen=True)
class Quantity:
    """A quantity a SCADA tag measures: store unit, the units accepted, the element kinds."""

    name: str
    store_unit: str
    units: tuple[Unit, ...]
    elements: tuple[str, ...]  # element kinds of :class:`CityElements` it may name
    description: str
    #: Values a reading may have, in the store unit (low, high); beyond is quarantined.
    plausible: tuple[float, float] = (-1e9, 1e9)

    def unit(self, text: str) -> Unit | None:
        """The unit spelled ``text`` (case and ``³`` forgiven where unambiguous), or None."""
        t = normalise_unit(text)
        for u in self.units:
            if t == u.name or t in u.aliases:
                return u
        return None


def normalise_unit(text: str) -> str:
    """A unit as written with spaces trimmed and ``³`` written ``3``."""
    return str(text).strip().replace("³", "3").replace("²", "2")


_M = Unit("m", 1.0, ("mH2O", "m H2O", "mwc"))
#: Quantities, declared once (units as written -> store unit factors).
QUANTITIES: dict[str, Quantity] = {q.name: q for q in (
    Quantity("pressure", "m", (
        _M,
        Unit("psi", PSI_PA / RHO_G_PA_PER_M, ("PSI", "psig", "PSIG")),
        Unit("bar", 1e5 / RHO_G_PA_PER_M, ("BAR",)),
        Unit("kPa", 1e3 / RHO_G_PA_PER_M, ("KPA", "kpa")),
    ), ("node",), "pressure head at a node [m] (1 psi = 0.70307 m, 1 bar = 10.197 m)",
        (-50.0, 1000.0)),  # a vacuum to 100 bar
    Quantity("flow", "L/s", (
        Unit("L/s", 1.0, ("l/s", "lps", "LPS")),
        Unit("m3/h", 1.0 / 3.6, ("m3/hr", "cmh", "CMH")),
        Unit("m3/s", 1000.0, ("cms", "CMS")),
        Unit("GPM", US_GALLON_L / 60.0, ("gpm", "gal/min")),
        Unit("MGD", US_GALLON_L * 1e6 / 86400.0, ("mgd",)),
    ), ("link", "flow_meter"),
        "flow through a link or DMA boundary meter [L/s], positive in its direction "
        "(1 GPM = 0.0630902 L/s, 1 MGD = 43.8126 L/s US)", (-1e5, 1e5)),  # 100 m3/s
    Quantity("level", "m", (
        _M,
        Unit("ft", 0.3048, ("FT", "feet")),
        Unit("%", 0.01, ("pct", "percent"), per_element="tank_max_level"),
    ), ("tank",), "water level above the tank bottom [m]; % is of the tank's maximum level",
        (-5.0, 200.0)),
    Quantity("pump_status", "-", (
        Unit("-", 1.0, ("on/off", "0/1", "bool", "")),
    ), ("pump",), "pump running (1) or stopped (0) [-]; on/off, run/stop, true/false read",
        (0.0, 1.0)),
    Quantity("pump_speed", "-", (
        Unit("-", 1.0, ("p.u.", "pu", "fraction")),
        Unit("%", 0.01, ("pct", "percent")),
    ), ("pump",), "pump relative speed, 1 = nominal [-]", (0.0, 2.0)),
    Quantity("pump_power", "kW", (
        Unit("kW", 1.0),
        Unit("W", 1e-3),
        Unit("MW", 1e3),
    ), ("pump",), "electrical input power of a pump [kW]", (-100.0, 1e5)),
    Quantity("active_power", "MW", (
        Unit("MW", 1.0),
        Unit("kW", 1e-3),
        Unit("W", 1e-6),
    ), ("feeder", "bus"), "active power into a feeder at its head, or at a bus [MW]",
        (-500.0, 500.0)),  # a 110 kV substation; a feeder in kW under an MW label is beyond
    Quantity("reactive_power", "Mvar", (
        Unit("Mvar", 1.0, ("MVAr", "MVAR", "MVar")),
        Unit("kvar", 1e-3, ("kVAr", "kVAR", "kVar")),
    ), ("feeder", "bus"), "reactive power into a feeder at its head, or at a bus [Mvar]",
        (-500.0, 500.0)),
    Quantity("voltage", "kV", (
        Unit("kV", 1.0),
        Unit("V", 1e-3),
    ), ("bus", "feeder"), "line-to-line voltage magnitude [kV]", (0.0, 1200.0)),
)}

#: Words a historian writes for a pump's state, and the status they mean [-].
STATUS_WORDS = {"on": 1.0, "off": 0.0, "run": 1.0, "running": 1.0, "stop": 0.0,
                "stopped": 0.0, "true": 1.0, "false": 0.0, "open": 1.0, "closed": 0.0}


@dataclass(frozen=True)
class Column:
    """A column of the tag map file."""

    name: str
    required: bool
    description: str


#: The tag map's columns, in order (other columns are ignored).
COLUMNS: tuple[Column, ...] = (
    Column("tag", True, "the historian's point name exactly as in its exports"),
    Column("element", True, "the element of the city measured: node, link, tank, pump, DMA "
           "boundary meter or feeder name, as in the city's files"),
    Column("quantity", True, f"one of {', '.join(QUANTITIES)}"),
    Column("unit", True, "the unit the historian writes (see the quantity's units)"),
    Column("description", False, "free text"),
)


def describe() -> pd.DataFrame:
    """Every quantity with its store unit, accepted units and element kinds (documentation)."""
    return pd.DataFrame([
        {"quantity": q.name, "store_unit": q.store_unit,
         "units": ", ".join(u.name for u in q.units if u.name),
         "elements": ", ".join(q.elements), "plausible": f"{q.plausible[0]:g} to {q.plausible[1]:g}",
         "description": q.description}
        for q in QUANTITIES.values()])


class TagMapError(ValueError):
    """A tag map that cannot be used; the message names the file, line and column."""


@dataclass(frozen=True)
class CityElements:
    """The names of a city's elements, by kind, that a tag map may name.

    Attributes
    ----------
    names : dict of str to frozenset of str
        Kind (``node``, ``link``, ``tank``, ``pump``, ``flow_meter``, ``feeder``, ``bus``)
        to element names.
    tank_max_level_m : dict of str to float
        Each tank's maximum level [m] (for levels written in %).
    """

    names: dict[str, frozenset] = field(default_factory=dict)
    tank_max_level_m: dict[str, float] = field(default_factory=dict)


def city_tag_map_path(folder) -> str | None:
    """The tag map file of a city folder (:data:`CITY_FILE`), None when it has none."""
    import os

    path = os.path.join(os.fspath(folder), CITY_FILE)
    return path if os.path.isfile(path) else None


def city_elements(city) -> CityElements:
    """The elements of a :class:`twin.city.City` that SCADA can measure.

    Kinds absent from the city (a water-only city has no feeder) are empty.
    """
    names: dict[str, frozenset] = {}
    wn = getattr(city, "wn", None)
    tanks: dict[str, float] = {}
    if wn is not None:
        names["node"] = frozenset(wn.node_name_list)
        names["link"] = frozenset(wn.link_name_list)
        names["tank"] = frozenset(wn.tank_name_list)
        names["pump"] = frozenset(wn.pump_name_list)
        tanks = {t: float(wn.get_node(t).max_level) for t in wn.tank_name_list}
    meters = getattr(city, "dma_meters", None)
    if meters is not None and len(meters):
        names["flow_meter"] = frozenset(meters["meter_id"].astype(str))
    net = getattr(city, "net", None)
    if net is not None:
        bus = net.bus
        names["bus"] = frozenset(bus.index.astype(str)) | frozenset(
            bus["name"].dropna().astype(str))
        if "feeder" in bus:
            names["feeder"] = frozenset(bus["feeder"].dropna().astype(str))
    return CityElements(names, tanks)


@dataclass(frozen=True)
class TagMap:
    """A validated tag map: per tag its element, quantity, declared unit and conversion.

    Attributes
    ----------
    frame : DataFrame
        Indexed by ``tag``: ``element``, ``quantity``, ``unit`` (as the historian writes),
        ``store_unit``, ``factor`` and ``offset`` (``store = value * factor + offset``),
        ``line`` (of the map file).
    source : str
        The map file's name (for messages).
    checked : bool
        Whether elements were checked against a city.
    """

    frame: pd.DataFrame
    source: str = ""
    checked: bool = False

    def __contains__(self, tag) -> bool:
        return tag in self.frame.index

    def table(self) -> pd.DataFrame:
        """The map as a table ``tag, element, quantity, unit, store_unit`` (for the store)."""
        return self.frame.reset_index()[["tag", "element", "quantity", "unit", "store_unit"]]

    def tags(self, quantity: str | None = None, element: str | None = None) -> list[str]:
        """Tags of a quantity and/or an element."""
        f = self.frame
        keep = np.ones(len(f), bool)
        if quantity is not None:
            keep &= (f["quantity"] == quantity).to_numpy()
        if element is not None:
            keep &= (f["element"] == str(element)).to_numpy()
        return list(f.index[keep])


def _read_rows(path) -> tuple[str, list[str], list[tuple[int, list[str]]]]:
    name = posixpath.basename(str(path))
    try:
        with fsspec.open(str(path), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise TagMapError(f"{path}: no such tag map file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first = text.split("\n", 1)[0]
    delim = max((",", ";", "\t"), key=first.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delim))
    if not rows:
        raise TagMapError(f"{name} line 1: empty tag map; write the header "
                          f"{','.join(c.name for c in COLUMNS)}")
    header = [h.strip().lower() for h in rows[0]]
    body = [(i + 2, r) for i, r in enumerate(rows[1:]) if any(x.strip() for x in r)]
    return name, header, body


def read_tag_map(path, elements: CityElements | None = None) -> TagMap:
    """Read and check a tag map CSV (:data:`COLUMNS`).

    Parameters
    ----------
    path : str or path-like
        Local path or fsspec URL.
    elements : CityElements, optional
        The city's elements (:func:`city_elements`); every ``element`` must be one of the
        kinds its quantity allows. Without it elements are not checked, and levels in %
        cannot be converted.

    Returns
    -------
    TagMap

    Raises
    ------
    TagMapError
        Naming the file, line and column of the first problem (and how many more lines have
        one).
    """
    name, header, body = _read_rows(path)
    missing = [c.name for c in COLUMNS if c.required and c.name not in header]
    if missing:
        raise TagMapError(f"{name} line 1: column(s) {', '.join(missing)} missing; the "
                          f"header must name {', '.join(c.name for c in COLUMNS if c.required)}")
    pos = {c: header.index(c) for c in header}
    records, problems, seen = [], [], {}
    for line, row in body:
        cell = {c: (row[i].strip() if i < len(row) else "") for c, i in pos.items()}
        tag = row[pos["tag"]] if pos["tag"] < len(row) else ""
        tag = tag.strip()
        problem = _check_row(cell, tag, line, seen, elements)
        if problem:
            problems.append(f"{name} line {line}, column {problem}")
            continue
        q = QUANTITIES[cell["quantity"]]
        u = q.unit(cell["unit"])
        factor = u.factor
        if u.per_element == "tank_max_level":
            factor = u.factor * elements.tank_max_level_m[cell["element"]]
        seen[tag] = line
        records.append({"tag": tag, "element": cell["element"], "quantity": q.name,
                        "unit": u.name, "store_unit": q.store_unit, "factor": factor,
                        "offset": u.offset, "line": line})
    if problems:
        more = f" (and {len(problems) - 1} more lines with problems)" if len(problems) > 1 else ""
        raise TagMapError(problems[0] + more)
    if not records:
        raise TagMapError(f"{name}: the tag map lists no tag")
    frame = pd.DataFrame(records).set_index("tag")
    return TagMap(frame, name, elements is not None)


def _check_row(cell: dict, tag: str, line: int, seen: dict,
               elements: CityElements | None) -> str:
    """What is wrong with one tag map row, as ``"<column>: <why>"`` ("" if nothing)."""
    if not tag:
        return "tag: empty tag"
    if tag in seen:
        return f"tag: {tag!r} is mapped twice (first on line {seen[tag]})"
    qname = cell.get("quantity", "")
    if qname not in QUANTITIES:
        return (f"quantity: unknown quantity {qname!r} for tag {tag!r}; one of "
                f"{', '.join(QUANTITIES)}")
    q = QUANTITIES[qname]
    u = q.unit(cell.get("unit", ""))
    if u is None:
        return (f"unit: unknown unit {cell.get('unit', '')!r} for {qname} (tag {tag!r}); "
                f"allowed: {', '.join(x.name for x in q.units if x.name)}")
    element = cell.get("element", "")
    if not element:
        return f"element: empty element for tag {tag!r}"
    if elements is not None:
        known = set().union(*(elements.names.get(k, frozenset()) for k in q.elements))
        if element not in known:
            return (f"element: {element!r} (tag {tag!r}) is no {' or '.join(q.elements)} of "
                    "the city; name one of the city's elements or drop the row")
    if u.per_element == "tank_max_level":
        if elements is None:
            return (f"unit: tag {tag!r} is a level in % of the tank's maximum level; give the "
                    "city (--city) so the tank's maximum level is known")
        if not elements.tank_max_level_m.get(element):
            return f"unit: tank {element!r} has no maximum level to take % of"
    return ""


# ------------------------------------------------------------ which series is which element

#: The sample city historian's tag grammar (``data/RAW-FORMATS.md`` §4): what a series
#: ingested without a tag map measures, by its tag (pattern, quantity). A store read through
#: a tag map says it itself (:meth:`twin.ingest.store.MeasurementStore.scada_tags`).
SAMPLE_TAG_GRAMMAR = (
    (r"^WATER\.TANK-(?P<element>.+)\.LEVEL$", "level", "WATER.TANK-{}.LEVEL"),
    (r"^WATER\.J-(?P<element>.+)\.PRESSURE$", "pressure", "WATER.J-{}.PRESSURE"),
    (r"^WATER\.PUMP-(?P<element>.+)\.POWER$", "pump_power", "WATER.PUMP-{}.POWER"),
    (r"^WATER\.(?P<element>[^.]+)\.FLOW$", "flow", "WATER.{}.FLOW"),
    (r"^ELEC\.(?P<element>[^.]+)\.P$", "active_power", "ELEC.{}.P"),
    (r"^ELEC\.(?P<element>[^.]+)\.Q$", "reactive_power", "ELEC.{}.Q"),
)


def series_elements(series_ids, tag_rows: pd.DataFrame) -> pd.DataFrame:
    """What each SCADA series measures: ``tag``, ``element``, ``quantity``.

    A series the store's tag map rows name (``tag_rows``: ``store.scada_tags()``) is what the
    map says; any other is read by the sample city historian's grammar
    (:data:`SAMPLE_TAG_GRAMMAR`); a series neither knows is left out.

    Parameters
    ----------
    series_ids : iterable of str
        SCADA series ids (tags) as stored.
    tag_rows : DataFrame
        ``tag``, ``element``, ``quantity`` (more columns are ignored).
    """
    import re

    mapped = tag_rows.set_index(tag_rows["tag"].astype(str))
    rows = []
    for tag in dict.fromkeys(map(str, series_ids)):
        if tag in mapped.index:
            r = mapped.loc[tag]
            rows.append((tag, str(r["element"]), str(r["quantity"])))
            continue
        for pattern, quantity, _ in SAMPLE_TAG_GRAMMAR:
            if m := re.match(pattern, tag):
                rows.append((tag, m.group("element"), quantity))
                break
    return pd.DataFrame(rows, columns=["tag", "element", "quantity"])


def element_tags(tag_rows: pd.DataFrame, quantity: str, elements) -> dict[str, str]:
    """The series id (tag) of ``quantity`` at each of ``elements``.

    From the store's tag map rows (``store.scada_tags()``) where they name the element; an
    element they do not name has the sample city historian's tag (:data:`SAMPLE_TAG_GRAMMAR`),
    the series id of an export ingested without a tag map. When the rows give several tags
    of one element and quantity, the first in tag order.

    Returns
    -------
    dict
        Element → tag, for every element of ``elements``.
    """
    grammar = {q: fmt for _, q, fmt in SAMPLE_TAG_GRAMMAR}
    rows = tag_rows[tag_rows["quantity"].astype(str) == quantity].sort_values("tag")
    mapped = dict(zip(rows["element"].astype(str)[::-1], rows["tag"].astype(str)[::-1],
                      strict=True))
    out = {}
    for element in map(str, elements):
        if element in mapped:
            out[element] = mapped[element]
        elif quantity in grammar:
            out[element] = grammar[quantity].format(element)
        else:
            raise KeyError(f"no SCADA tag of {quantity} at {element!r} in the store's tag map")
    return out
