"""The city's water network: an EPANET model read and written through WNTR."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import wntr


class NetworkFileError(ValueError):
    """An EPANET ``.inp`` file that cannot be read; the message names the file and line."""


def shipped_network_path(name: str) -> Path:
    """Return the path of an EPANET example network shipped inside the WNTR wheel.

    Parameters
    ----------
    name : str
        ``"Net1"``, ``"Net2"``, ``"Net3"``, ``"Net6"``, ``"ky4"`` or ``"ky10"``.
    """
    folder = Path(wntr.__file__).parent / "library" / "networks"
    path = folder / f"{name}.inp"
    if not path.exists():
        known = sorted(p.stem for p in folder.glob("*.inp"))
        raise FileNotFoundError(f"WNTR ships no network {name!r}; choose one of {known}")
    return path


#: Flow-unit keywords of EPANET 2.2's ``UNITS`` option; EPANET also takes the legacy ``SI``
#: (litres per second) and ``US`` (gallons per minute), which WNTR's reader refuses.
EPANET_FLOW_UNITS = ("CFS", "GPM", "MGD", "IMGD", "AFD", "LPS", "LPM", "MLD", "CMH", "CMD")
_LEGACY_FLOW_UNITS = {"SI": "LPS", "US": "GPM"}
_CLOCK_AM_PM = re.compile(r"(CLOCKTIME\s+(?:[<>=!]\S*\s+|\w+\s+(?=\d))?)(\d+(?:\.\d*)?)(\s+[AP]M\b)",
                          re.IGNORECASE)


def read_inp(path: str | Path) -> wntr.network.WaterNetworkModel:
    """Read an EPANET 2.2 ``.inp`` file: every file EPANET itself opens.

    The file is first opened by the EPANET 2.2 toolkit (``EN_open``), the judge of what is
    a valid network; a file it refuses raises with EPANET's error and the file's line. The
    text is then parsed by WNTR's reader after the repairs of :func:`repair_inp_text`
    (lines where WNTR's reader is stricter than EPANET's grammar; each repaired line keeps
    its origin, so an error names the file's own line). The model is then held to what
    EPANET read: the same numbers of nodes, tanks and reservoirs, links, controls and
    rules, the same flow units and headloss formula (else an error), and EPANET's time
    parameters and demand multiplier where WNTR read them otherwise (``0:00`` steps,
    ``15 min``, the default rule step).

    Parameters
    ----------
    path : str or Path
        The ``.inp`` file, in any byte encoding EPANET reads (UTF-8, or a single-byte code
        page such as latin-1 in the title or comments).

    Returns
    -------
    WaterNetworkModel
        In SI units, named after ``path``; ``wn.inp_repairs`` lists, one string each, what
        was read otherwise than WNTR's reader alone would (``"line N: 'old' read as
        'new'"``, options taken from EPANET) and WNTR's own notes; empty for most files.

    Raises
    ------
    NetworkFileError
        When the file is missing or malformed; the message names the file, the line, the
        line's text and EPANET's error.
    """
    path = Path(path)
    if not path.is_file():
        raise NetworkFileError(f"{path}: no such EPANET file")
    text, encoding = decode_inp(path.read_bytes())
    opened = check_with_epanet(path, text)
    repaired = repair_inp_text(text)
    notes = list(repaired.notes)
    if encoding != "utf-8":
        notes.insert(0, f"text decoded as {encoding} (not UTF-8)")
    with tempfile.TemporaryDirectory(prefix="twin-inp-") as tmp:
        copy = Path(tmp) / "network.inp"
        copy.write_text(repaired.text, encoding="utf-8")
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            try:
                wn = wntr.network.read_inpfile(str(copy))
            except Exception as exc:  # WNTR raises several types for malformed input
                raise _wntr_error(path, text, repaired.origin, exc) from exc
    # WNTR warns that a D-W roughness keeps its units when it reads HEADLOSS D-W (it does,
    # rightly); its note on curves no element uses is kept with the repairs
    notes += [str(w.message).replace(str(copy), str(path)) for w in said
              if "headloss formula" not in str(w.message)]
    _check_counts(path, wn, opened.counts)
    notes += _check_options(path, wn, opened.options)
    notes += _align_times(wn, opened.times)
    wn.name = str(path)
    wn.inp_repairs = notes
    return wn


#: WNTR's time options and the EPANET toolkit's time parameter codes (``EN_gettimeparam``).
EPANET_TIME_PARAMETERS = {"duration": 0, "hydraulic_timestep": 1, "quality_timestep": 2,
                          "pattern_timestep": 3, "pattern_start": 4, "report_timestep": 5,
                          "report_start": 6, "rule_timestep": 7, "start_clocktime": 10}


def _align_times(wn: wntr.network.WaterNetworkModel, epanet_times: dict[str, int]) -> list[str]:
    """Set ``wn``'s time options to the values EPANET read from the same file.

    EPANET replaces a zero step by its default (a pattern step of ``0:00`` is 1 h, a
    reporting step of 0 the pattern step, a hydraulic step is cut to the pattern and
    reporting steps); WNTR's reader keeps ``0:00`` as 0 or 1 s, which its writer then
    gives EPANET as a 1-second step. Returns one note per option changed.
    """
    notes = []
    for option, seconds in epanet_times.items():
        mine = getattr(wn.options.time, option)
        if mine != seconds:
            setattr(wn.options.time, option, seconds)
            notes.append(f"[TIMES] {option.replace('_', ' ')}: {mine} s read as EPANET "
                         f"reads it, {seconds} s")
    return notes


def decode_inp(data: bytes) -> tuple[str, str]:
    """Decode an ``.inp`` file's bytes as EPANET reads them (it reads bytes, not text).

    Returns
    -------
    (str, str)
        The text and the encoding used: ``"utf-8"`` when the bytes are valid UTF-8 (a byte
        order mark is dropped), else ``"latin-1"``, which maps every byte to one character
        so IDs and numbers are unchanged and only non-ASCII titles or comments may show
        other letters than their author's code page.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


class RepairedInp(NamedTuple):
    """An ``.inp`` text rewritten for WNTR's reader (:func:`repair_inp_text`)."""

    #: The repaired text.
    text: str
    #: One note per repaired line: ``"line N: 'old' read as 'new'"``.
    notes: list[str]
    #: For each line of ``text``, the number (1-based) of the original line it comes from.
    origin: list[int]


def repair_inp_text(text: str) -> RepairedInp:
    """Rewrite the lines where WNTR's reader refuses what EPANET 2.2's grammar accepts.

    Each repair gives a line that EPANET reads the same way:

    * ``[OPTIONS] UNITS SI`` / ``US``: EPANET 2.2's legacy keywords for ``LPS`` / ``GPM``;
      a keyword in another case or extended (EPANET matches keywords as prefixes: ``gpm``,
      ``LPSec``) is written as EPANET's keyword;
    * ``[OPTIONS] QUALITY name units`` with units other than mg/L or ug/L (``Chemical
      TIME``): EPANET keeps such units as a label only; the label is dropped (mg/L);
    * ``[RULES]`` and ``[CONTROLS]`` clock times in hours before ``AM``/``PM`` (``IF SYSTEM
      CLOCKTIME >= 6 AM``, ``AT CLOCKTIME 8.5 PM``), decimal hours to EPANET: written
      ``6:00 AM``, ``8:30 PM``;
    * ``[REPORT] FILE name``: the name of a second report file, which the twin never
      writes and WNTR's reader refuses; commented out;
    * a ``[TANKS]`` line with only an ID, an elevation and perhaps a head pattern: EPANET
      makes it a reservoir; it is moved to a ``[RESERVOIRS]`` section;
    * a ``[PUMPS]`` line in EPANET 1.x form, ``id node1 node2 power``: a constant-power
      pump, written ``id node1 node2 POWER power``.

    Returns
    -------
    RepairedInp
        The text, one note per repaired line, and each line's original line number (so a
        reader's error on the repaired text names the file's own line).
    """
    out: list[tuple[int, str]] = []
    moved: list[tuple[int, str]] = []
    notes, section = [], None
    for i, line in enumerate(text.splitlines(), start=1):
        body = line.split(";", 1)[0]
        words = body.split()
        if words and words[0].startswith("["):
            section = words[0].upper()
            if section == "[END]" and moved:
                out += [(moved[0][0], "[RESERVOIRS]"), *moved]
                moved = []
            out.append((i, line))
            continue
        new = line
        if not words:
            pass
        elif section == "[OPTIONS]" and words[0].upper() == "UNITS" and len(words) > 1:
            new = _repair_units(line, words[1])
        elif section == "[OPTIONS]" and words[0].upper() == "QUALITY" and len(words) > 2:
            if words[1].upper() != "TRACE" and not re.search(r"mg|ug", words[2], re.I):
                new = line.replace(words[2], "", 1)
        elif section in ("[RULES]", "[CONTROLS]") and "CLOCKTIME" in body.upper():
            new = _CLOCK_AM_PM.sub(lambda m: m.group(1) + _hh_mm(m.group(2)) + m.group(3), line)
        elif section == "[TANKS]" and len(words) in (2, 3):
            moved.append((i, line))
            notes.append(f"line {i}: {line.strip()!r} (a tank line without a diameter) read "
                         "as a reservoir, as EPANET does")
            out.append((i, ";" + line))
            continue
        elif section == "[REPORT]" and words[0].upper() == "FILE":
            new = ";" + line
        elif section == "[PUMPS]" and len(words) == 4 and _is_number(words[3]):
            new = line.replace(words[3], f"POWER {words[3]}", 1) if words[3] in body else line
        if new != line:
            notes.append(f"line {i}: {line.strip()!r} read as {new.strip()!r}")
        out.append((i, new))
    if moved:
        out += [(moved[0][0], "[RESERVOIRS]"), *moved]
    return RepairedInp("\n".join(t for _, t in out) + "\n", notes, [n for n, _ in out])


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _repair_units(line: str, word: str) -> str:
    key = word.upper()
    if key in _LEGACY_FLOW_UNITS:
        return line.replace(word, _LEGACY_FLOW_UNITS[key], 1)
    for unit in sorted(EPANET_FLOW_UNITS, key=len, reverse=True):  # IMGD before MGD
        if key.startswith(unit):
            return line.replace(word, unit, 1)
    return line


def _hh_mm(hours: str) -> str:
    seconds = round(float(hours) * 3600)
    hh, rest = divmod(seconds, 3600)
    mm, ss = divmod(rest, 60)
    return f"{hh}:{mm:02d}" + (f":{ss:02d}" if ss else "")


#: EPANET's report line for an input error: ``Error 203: undefined node 99 in [PUMPS]
#: section:`` followed by the offending line.
_EPANET_INPUT_ERROR = re.compile(r"^\s*Error (\d+):\s*(.*?)\s*(?:in (\[\w+\]) section)?:?\s*$")


class EpanetReading(NamedTuple):
    """What EPANET 2.2 read from an ``.inp`` file (:func:`check_with_epanet`)."""

    #: Time parameters as WNTR names them (:data:`EPANET_TIME_PARAMETERS`) [s].
    times: dict[str, int]
    #: Element counts: ``nodes``, ``tanks_and_reservoirs``, ``links``,
    #: ``controls_and_rules``.
    counts: dict[str, int]
    #: ``flow_units`` (``"GPM"``…), ``headloss`` (``"H-W"``, ``"D-W"``, ``"C-M"``) and
    #: ``demand_multiplier`` [-].
    options: dict[str, str | float]


def check_with_epanet(path: str | Path, text: str | None = None) -> EpanetReading:
    """Open ``path`` with the EPANET 2.2 toolkit (``EN_open``) and close it again.

    Returns
    -------
    EpanetReading
        EPANET's time parameters and element counts of the file.

    Raises
    ------
    NetworkFileError
        When EPANET refuses the file: the first error EPANET reports, with the file's line
        number and text (found from the section and line EPANET quotes).
    """
    from wntr.epanet.toolkit import ENepanet

    path = Path(path)
    if text is None:
        text = decode_inp(path.read_bytes())[0]
    with tempfile.TemporaryDirectory(prefix="twin-inp-") as tmp:
        rpt = os.path.join(tmp, "check.rpt")
        en = ENepanet(version=2.2)
        try:
            en.ENopen(epanet_path(path, tmp), rpt, os.path.join(tmp, "check.bin"))
        except Exception as exc:
            en.ENlib.EN_close(en._project)  # flushes the report that holds the messages
            en.ENlib.EN_deleteproject(en._project)
            en._project = None
            report = Path(rpt).read_text(encoding="latin-1") if Path(rpt).exists() else ""
            raise _epanet_error(path, text, report, exc) from None
        times = {k: int(en.ENgettimeparam(code)) for k, code in EPANET_TIME_PARAMETERS.items()}
        c = [en.ENgetcount(code) for code in range(7)]  # EN_NODECOUNT … EN_RULECOUNT
        options = {"flow_units": EPANET_FLOW_UNITS[en.ENgetflowunits()],
                   "headloss": ("H-W", "D-W", "C-M")[int(_option(en, 7))],  # EN_HEADLOSSFORM
                   "demand_multiplier": _option(en, 4)}  # EN_DEMANDMULT
        en.ENclose()
    return EpanetReading(times, {"nodes": c[0], "tanks_and_reservoirs": c[1], "links": c[2],
                                 "controls_and_rules": c[5] + c[6]}, options)


def _option(en, code: int) -> float:
    """An analysis option of an open EPANET project (``EN_getoption``)."""
    import ctypes

    value = ctypes.c_double()
    en.ENlib.EN_getoption(en._project, ctypes.c_int(code), ctypes.byref(value))
    return value.value


def _check_options(
    path: Path, wn: wntr.network.WaterNetworkModel, options: dict[str, str | float]
) -> list[str]:
    """Refuse a model read in other flow units or with another headloss formula than
    EPANET's (every value would be converted wrongly); take EPANET's demand multiplier."""
    hyd = wn.options.hydraulic
    mine = {"flow_units": hyd.inpfile_units.upper(), "headloss": hyd.headloss.upper()}
    wrong = [f"{k} {mine[k]} (EPANET {options[k]})" for k in mine if mine[k] != options[k]]
    if wrong:
        raise NetworkFileError(f"{path}: WNTR's reader disagrees with EPANET on the "
                               f"{', '.join(wrong)}; write the [OPTIONS] line in EPANET's "
                               "standard form")
    if not np.isclose(hyd.demand_multiplier, options["demand_multiplier"], rtol=1e-12):
        note = (f"[OPTIONS] demand multiplier: {hyd.demand_multiplier} read as EPANET reads "
                f"it, {options['demand_multiplier']}")
        hyd.demand_multiplier = float(options["demand_multiplier"])
        return [note]
    return []


def _check_counts(path: Path, wn: wntr.network.WaterNetworkModel, counts: dict[str, int]) -> None:
    """Refuse a model in which WNTR's reader lost or added elements EPANET read."""
    mine = {"nodes": wn.num_nodes, "tanks_and_reservoirs": wn.num_tanks + wn.num_reservoirs,
            "links": wn.num_links, "controls_and_rules": wn.num_controls}
    wrong = [f"{k} {mine[k]} (EPANET {v})" for k, v in counts.items() if mine[k] != v]
    if wrong:
        raise NetworkFileError(f"{path}: WNTR's reader disagrees with EPANET on the number "
                               f"of {', '.join(wrong)}; nothing was simulated. Report the "
                               "file, or rewrite those sections in EPANET's standard form")


def epanet_path(path: str | Path, scratch: str | Path) -> str:
    """``path`` as the EPANET toolkit can open it: the toolkit takes file names in latin-1,
    so a file whose path has other characters is copied into ``scratch`` first."""
    try:
        str(path).encode("latin-1")
    except UnicodeEncodeError:
        copy = Path(scratch) / "network.inp"
        shutil.copyfile(path, copy)
        return str(copy)
    return str(path)


def _epanet_error(path: Path, text: str, report: str, exc: BaseException) -> NetworkFileError:
    """The first input error of an EPANET report, located in the file."""
    lines = report.splitlines()
    for k, line in enumerate(lines):
        m = _EPANET_INPUT_ERROR.match(line)
        if not m or m.group(1) == "200":
            continue
        quoted = lines[k + 1].strip() if m.group(3) and k + 1 < len(lines) else None
        number = _find_line(text, m.group(3), quoted) if quoted else None
        where = f"{path}, line {number}" if number else str(path)
        shown = f" ({quoted!r})" if quoted else ""
        return NetworkFileError(f"{where}{shown}: EPANET error {m.group(1)}: {m.group(2)}"
                                f"{' in ' + m.group(3) if m.group(3) else ''}; fix that line")
    return NetworkFileError(f"{path}: EPANET cannot open the network: {exc}")


def _find_line(text: str, section: str, quoted: str) -> int | None:
    """Number (1-based) of the first line of ``section`` whose words are ``quoted``'s."""
    want, current = quoted.split(), None
    for i, line in enumerate(text.splitlines()):
        words = line.split()
        if words and words[0].startswith("["):
            current = words[0].upper()
        elif current == section.upper() and words == want:
            return i + 1
    return None


def _wntr_error(
    path: Path, text: str, origin: list[int], exc: BaseException
) -> NetworkFileError:
    """A WNTR reader error on a file EPANET opened, with the file's line."""
    line, quoted, cause = None, None, exc
    while cause is not None and line is None:  # WNTR wraps the parser's error in Error 200
        line = getattr(cause, "line_num", None)
        exc, cause = cause, cause.__cause__
    if line is None:
        line, _ = _failing_line(exc)
    if line:
        line = origin[line - 1] if 0 < line <= len(origin) else line
        lines = text.splitlines()
        quoted = lines[line - 1].strip() if 0 < line <= len(lines) else None
    where = f"{path}, line {line}" if line else str(path)
    shown = f" ({quoted!r})" if quoted else ""
    return NetworkFileError(f"{where}{shown}: EPANET opens this network but WNTR's reader "
                            f"cannot ({exc!r}); rewrite that line in EPANET's standard form")


def _failing_line(exc: BaseException) -> tuple[int | None, str | None]:
    """The ``.inp`` line WNTR's reader was parsing when it failed (its ``lnum``/``line``
    locals, innermost frame first), or ``(None, None)``."""
    tb, found = exc.__traceback__, (None, None)
    while tb is not None:
        local = tb.tb_frame.f_locals
        if "lnum" in local and isinstance(local.get("lnum"), int):
            text = local.get("line")
            found = (local["lnum"], text if isinstance(text, str) else None)
        tb = tb.tb_next
    return found


def demand_junctions(wn: wntr.network.WaterNetworkModel) -> list[str]:
    """Junctions with a positive base demand in any of their demand categories (where
    customers draw water), in the network's order. WNTR's ``Junction.base_demand`` is the
    first category's only."""
    return [name for name, j in wn.junctions()
            if any(d.base_value > 0 for d in j.demand_timeseries_list)]


def node_xy(wn: wntr.network.WaterNetworkModel) -> pd.DataFrame:
    """Return node coordinates as columns ``x_m`` and ``y_m``, indexed by node name."""
    names = wn.node_name_list
    xy = np.array([wn.get_node(n).coordinates for n in names], dtype=float)
    return pd.DataFrame({"x_m": xy[:, 0], "y_m": xy[:, 1]}, index=pd.Index(names, name="node"))


def metres_per_coordinate_unit(wn: wntr.network.WaterNetworkModel) -> float:
    """Estimate the map scale of a model from its pipes: median of length / drawn distance.

    Returns
    -------
    float
        Metres of pipe per unit of the model's coordinates [m/unit].
    """
    xy = node_xy(wn)
    ratios = []
    for _, pipe in wn.pipes():
        a = xy.loc[pipe.start_node_name].to_numpy()
        b = xy.loc[pipe.end_node_name].to_numpy()
        drawn = float(np.hypot(*(a - b)))
        if drawn > 0:
            ratios.append(pipe.length / drawn)
    return float(np.median(ratios))


def transform_coordinates(
    wn: wntr.network.WaterNetworkModel, scale: float, offset_x_m: float, offset_y_m: float
) -> None:
    """Scale then shift every node's coordinates, in place: ``x' = scale * x + offset``."""
    for _, node in wn.nodes():
        x, y = node.coordinates
        node.coordinates = (round(scale * x + offset_x_m, 2), round(scale * y + offset_y_m, 2))


_AT_TIME = re.compile(r"^\s*(LINK\s+\S+\s+\S+)\s+AT\s+TIME\s+([\d.:]+)\s*$", re.IGNORECASE)


def daily_controls(inp_text: str) -> str:
    """Turn ``AT TIME`` controls of a one-week model into daily ``AT CLOCKTIME`` controls.

    Example networks such as Net3 schedule a pump with one ``AT TIME h`` control per day of
    the week they were written for; a year-long run would stop the schedule after that week.
    Controls repeating the first day's clock times are dropped, so each distinct clock time is
    kept once.
    """
    out, seen = [], set()
    for line in inp_text.splitlines():
        m = _AT_TIME.match(line)
        if not m:
            out.append(line)
            continue
        hours = _hours(m.group(2)) % 24
        key = (m.group(1).upper(), hours)
        if key in seen:
            continue
        seen.add(key)
        hh, mm = int(hours), int(round((hours % 1) * 60))
        out.append(f"{m.group(1)} AT CLOCKTIME {hh:02d}:{mm:02d}")
    return "\n".join(out) + "\n"


def _hours(text: str) -> float:
    """Parse an EPANET time, ``"15"`` or ``"15:30"``, to hours."""
    if ":" in text:
        parts = [float(p) for p in text.split(":")]
        return parts[0] + parts[1] / 60 + (parts[2] / 3600 if len(parts) > 2 else 0)
    return float(text)


def unreachable_nodes(wn: wntr.network.WaterNetworkModel) -> list[str]:
    """Nodes with no path through pipes, pumps or valves to a reservoir or tank.

    EPANET cannot give such nodes a head (it reports them as disconnected and stops); a
    model with them needs a link added or the nodes removed.
    """
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(wn.node_name_list)
    graph.add_edges_from((link.start_node_name, link.end_node_name) for _, link in wn.links())
    sources = set(wn.reservoir_name_list) | set(wn.tank_name_list)
    reached = set()
    for part in nx.connected_components(graph):
        if part & sources:
            reached |= part
    return sorted(set(wn.node_name_list) - reached)
