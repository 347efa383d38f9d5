"""The common what-if knobs of the dashboard, as a :class:`twin.scenario.Scenario`.

An engineer's knobs (EV share, rooftop PV share, heatwave days, an element out of service, a
leak at a junction, a drought restriction, a pump out, a period) become an ordinary scenario:
its YAML (:func:`twin.scenario.scenario_yaml`) is what ``twin scenario run`` reads, so a what-if
saved from the page reproduces exactly. Knobs are checked by the scenario schema itself; a bad
one raises :class:`twin.scenario.ScenarioFileError` naming the field and what is allowed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import yaml

from twin.scenario import Scenario, ScenarioFileError, parse_scenarios

#: Period lengths offered [days]; None runs to the end of the year.
PERIODS = {"a day": 1, "a week": 7, "the year": None}
#: Where the page's values come from, for the error messages.
SOURCE = "what-if knobs"


@dataclass(frozen=True)
class WhatIfKnobs:
    """The page's knobs; zero or empty means "no such change".

    Attributes
    ----------
    start : date
        First local day of the period.
    days : int or None
        Length of the period [d]; None: to the end of the year.
    ev_share_percent : float
        Residential customers with an EV [%].
    pv_share_percent : float
        Residential and commercial customers with rooftop PV [%] (0: as today).
    heatwave_days : float
        Days of a +``heatwave_delta_c`` heatwave from the period's start [d].
    heatwave_delta_c : float
        Its air temperature shift [°C].
    outage_kind, outage_element : str
        An element out of service for the whole period: ``line``, ``trafo``, ``feeder``,
        ``bus`` (its index or feeder name) or ``pipe``, ``tank`` (its name).
    leak_junction : str
        Junction with a leak of ``leak_flow_l_s`` [L/s] at its base mean pressure.
    drought_restriction_percent : float
        Cut in every customer's water demand [%].
    pump_out : str
        Pump out of service for the whole period.
    hosting_capacity : bool
        Also compute the PV hosting capacity left (about 4 s more for a day).
    """

    start: date
    days: int | None = 1
    ev_share_percent: float = 0.0
    pv_share_percent: float = 0.0
    heatwave_days: float = 0.0
    heatwave_delta_c: float = 5.0
    outage_kind: str = ""
    outage_element: str = ""
    leak_junction: str = ""
    leak_flow_l_s: float = 5.0
    drought_restriction_percent: float = 0.0
    pump_out: str = ""
    hosting_capacity: bool = False


def _percent(value: float, field: str) -> float:
    if not 0.0 <= value <= 100.0:
        raise ScenarioFileError(f"{SOURCE}: {field} {value:g} %: give 0 to 100 %")
    return value / 100.0


def scenario_spec(knobs: WhatIfKnobs, name: str = "what-if") -> dict:
    """The scenario the knobs describe, as the mapping a scenario file holds."""
    k = knobs
    changes = []
    if k.ev_share_percent:
        changes.append({"type": "ev", "share": _percent(k.ev_share_percent, "EV share")})
    if k.pv_share_percent:
        changes.append({"type": "rooftop_pv",
                        "share": _percent(k.pv_share_percent, "rooftop PV share")})
    if k.heatwave_days:
        changes.append({"type": "heatwave", "days": k.heatwave_days,
                        "delta_c": k.heatwave_delta_c})
    if k.outage_kind or k.outage_element:
        if not (k.outage_kind and str(k.outage_element).strip()):
            raise ScenarioFileError(f"{SOURCE}: an outage needs both the kind of element and "
                                    "which one")
        element = str(k.outage_element).strip()
        if k.outage_kind in ("line", "trafo", "bus"):
            if not element.lstrip("-").isdigit():
                raise ScenarioFileError(f"{SOURCE}: {k.outage_kind} {element!r}: give the "
                                        f"{k.outage_kind}'s index, a whole number")
            element = int(element)
        changes.append({"type": "outage", "id": "outage", "kind": k.outage_kind,
                        "element": element})
    if k.leak_junction:
        changes.append({"type": "leak", "junction": str(k.leak_junction).strip(),
                        "flow_l_s": k.leak_flow_l_s})
    if k.drought_restriction_percent:
        cut = _percent(k.drought_restriction_percent, "drought restriction")
        changes.append({"type": "water_demand", "id": "drought", "factor": round(1.0 - cut, 6)})
    if k.pump_out:
        changes.append({"type": "outage", "id": "pump-out", "kind": "pump",
                        "element": str(k.pump_out).strip()})
    base = {"start": k.start, "hosting_capacity": bool(k.hosting_capacity)}
    if k.days is not None:
        base["days"] = k.days
    return {"name": name, "base": base, "changes": changes}


def knobs_scenario(knobs: WhatIfKnobs, name: str = "what-if") -> Scenario:
    """The knobs as a validated scenario.

    Raises
    ------
    ScenarioFileError
        A knob out of range or inconsistent, naming it and what is allowed.
    """
    if name.strip() == "base":
        raise ScenarioFileError(f"{SOURCE}: 'base' names the run it is compared with; give "
                                "the what-if another name")
    return parse_scenarios(yaml.safe_dump(scenario_spec(knobs, name), sort_keys=False),
                           SOURCE)[0]


def base_scenario(scenario: Scenario) -> Scenario:
    """The scenario's base alone: same period, step and limits, no change."""
    return Scenario(name="base", base=scenario.base)


def knobs_dict(knobs: WhatIfKnobs) -> dict:
    """The knobs as plain values (for logs and tests)."""
    return asdict(knobs)
