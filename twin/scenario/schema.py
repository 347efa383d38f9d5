"""Scenario files: a base and a list of typed changes, with sweeps, read from YAML.

A scenario file holds one scenario (a mapping), several (``scenarios: [...]`` or a YAML
list), and optionally a ``sweep``: a ``grid`` (every combination, as PyPSA-Eur's wildcards)
or a ``list`` of overrides, each naming a field as ``<change id or type>.<field>`` or
``base.<field>``::

    name: ev-pv
    base: {start: 2016-07-01, days: 7}
    changes:
      - {type: ev, share: 0.1}
      - {type: rooftop_pv, id: pv, share: 0.4}
    sweep:
      grid: {ev.share: [0, 0.2, 0.4], pv.share: [0.4, 0.6]}

A mistake is reported with the file, the line, the field and what is allowed
(:class:`ScenarioFileError`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from twin.scenario.changes import CHANGE_TYPES, Change, quantity

#: Most scenarios one sweep may expand to; beyond it the file is refused.
MAX_SWEEP_SCENARIOS = 256


class ScenarioFileError(ValueError):
    """A scenario file that cannot be read; the message names file, line, field, what to do."""


class Base(BaseModel):
    """What a scenario starts from: the city's year (or a period of it), the step, limits."""

    model_config = ConfigDict(extra="forbid")
    city: str | None = Field(None, description="name of the city the study is written for; "
                             "checked against the city it runs on (default: any)")
    start: date | None = Field(None, description="first local day of the period (default: "
                               "1 January of the city's year)")
    days: int | None = quantity(None, "d", "length of the period (default: to the year's end)",
                                ge=1, le=366)
    step_min: int = quantity(15, "min", "electric time step, a multiple of 15", ge=15, le=1440)
    water_step_min: int = quantity(60, "min", "hydraulic and report step of EPANET", ge=5,
                                   le=1440)
    pressure_driven: bool = Field(True, description="pressure-driven demands (EPANET PDA), so "
                                  "water not delivered shows; else demand-driven")
    voltage_band_pu: tuple[float, float] = quantity((0.90, 1.10), "p.u.", "allowed voltage band")
    max_loading_percent: float = quantity(100.0, "%", "thermal limit of lines and "
                                          "transformers", gt=0)
    min_pressure_m: float = quantity(20.0, "m", "minimum service pressure", gt=0)
    energy_price_per_mwh: float = quantity(100.0, "currency/MWh", "price of pump energy", ge=0)
    hosting_capacity: bool = Field(True, description="compute the PV hosting capacity left "
                                   "(a few seconds)")

    @field_validator("step_min")
    @classmethod
    def _multiple_of_15(cls, v: int) -> int:
        if v % 15:
            raise ValueError(f"step_min {v} must be a multiple of 15 (the profiles' step)")
        return v

    @field_validator("voltage_band_pu")
    @classmethod
    def _band(cls, v):
        if not v[0] < 1.0 < v[1]:
            raise ValueError(f"voltage band {list(v)} must be [low, high] around 1.0")
        return v


class Scenario(BaseModel):
    """A named what-if: a base and the changes made to it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, description="short name, used in tables and files")
    description: str = Field("", description="what the study asks, in words")
    base: Base = Field(default_factory=Base)
    changes: list[Change] = Field(default_factory=list)

    @field_validator("changes")
    @classmethod
    def _unique_ids(cls, v):
        keys = [c.key for c in v]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"changes {dup} appear twice; give each an id to tell them apart")
        return v

    def canonical(self) -> str:
        """Canonical JSON of the scenario (defaults filled, keys sorted): what its hash covers."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        """First 16 hex digits of the SHA-256 of :meth:`canonical`."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:16]

    def change(self, key: str):
        """The change whose id (or type) is ``key``."""
        for c in self.changes:
            if c.key == key:
                return c
        raise KeyError(key)


def scenario_yaml(scenario: Scenario) -> str:
    """YAML text of a scenario that reads back to the same scenario (and hash)."""
    data = scenario.model_dump(exclude_defaults=True)
    data["name"] = scenario.name
    data.setdefault("base", {})
    data["changes"] = [{"type": c.type, **c.model_dump(exclude_defaults=True)}
                       for c in scenario.changes]
    # python mode keeps dates as dates and times as times (YAML reads them back as such)
    return yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True)


def _plain(value):
    """Tuples as lists, recursively (safe YAML has no tuples)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def scenario_schema() -> dict:
    """JSON schema of a scenario file (for editors), with every field's unit."""
    schema = Scenario.model_json_schema()
    schema["title"] = "CityTwin scenario"
    schema.setdefault("properties", {})["sweep"] = {
        "type": "object", "description": "grid: {'<change>.<field>': [values]} (all "
        f"combinations) or list: [{{'<change>.<field>': value}}]; at most "
        f"{MAX_SWEEP_SCENARIOS} scenarios",
        "properties": {"grid": {"type": "object"}, "list": {"type": "array"}}}
    schema["properties"]["scenarios"] = {"type": "array", "items": {"$ref": "#"},
                                         "description": "several scenarios in one file"}
    return schema


# ---------------------------------------------------------------------------------- reading

def load_scenario_file(path: str | Path) -> list[Scenario]:
    """Read a scenario file; sweeps are expanded into one scenario per combination.

    Raises
    ------
    ScenarioFileError
        Naming the file, line and field, and what is allowed.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioFileError(f"{path}: cannot read it ({exc.strerror})") from None
    return parse_scenarios(text, str(path))


def parse_scenarios(text: str, source: str = "<text>") -> list[Scenario]:
    """Scenarios in a YAML text (see :func:`load_scenario_file`)."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ScenarioFileError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if isinstance(data, dict) and "scenarios" in data:
        items, node, path0 = data["scenarios"], _child(root, "scenarios"), ("scenarios",)
        extra = sorted(set(data) - {"scenarios"})
        if extra:
            raise ScenarioFileError(f"{source}:{_line(root)}: keys {extra} beside 'scenarios'; "
                                    "put them inside each scenario")
    elif isinstance(data, list):
        items, node, path0 = data, root, ()
    elif isinstance(data, dict):
        items, node, path0 = [data], None, None
    else:
        raise ScenarioFileError(f"{source}: expected a scenario (a mapping with name, base, "
                                "changes) or a list of them")
    if not isinstance(items, list):
        raise ScenarioFileError(f"{source}:{_line(node)}: 'scenarios' must be a list")
    out: list[Scenario] = []
    for i, item in enumerate(items):
        item_node = root if path0 is None else _child(node, i)
        out.extend(_one(item, item_node, source))
    names = [s.name for s in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioFileError(f"{source}: scenario names {dup} appear twice; names must differ")
    if len(out) > MAX_SWEEP_SCENARIOS:
        raise ScenarioFileError(f"{source}: {len(out)} scenarios, more than the limit of "
                                f"{MAX_SWEEP_SCENARIOS}; split the file or coarsen the sweep")
    return out


def _one(item: Any, node, source: str) -> list[Scenario]:
    if not isinstance(item, dict):
        raise ScenarioFileError(f"{source}:{_line(node)}: a scenario must be a mapping with "
                                "name, base and changes")
    sweep = item.get("sweep")
    spec = {k: v for k, v in item.items() if k != "sweep"}
    scenario = _validate(spec, node, source)
    if sweep is None:
        return [scenario]
    return expand_sweep(scenario, sweep, source=f"{source}:{_line(_child(node, 'sweep'))}")


def _validate(spec: dict, node, source: str) -> Scenario:
    try:
        return Scenario.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = _line(_locate(node, loc))
        field = ".".join(str(p) for p in loc) or "(scenario)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioFileError(f"{source}:{line}: {field}: {_explain(err)}{more}") from None


def _explain(err: dict) -> str:
    """One error in words, with what is allowed."""
    kind, msg = err["type"], err["msg"]
    ctx = err.get("ctx", {})
    if kind == "union_tag_invalid":
        return (f"unknown change type {ctx.get('tag')!r}; allowed: "
                f"{', '.join(sorted(CHANGE_TYPES))}")
    if kind == "union_tag_not_found":
        return f"a change needs a 'type', one of: {', '.join(sorted(CHANGE_TYPES))}"
    if kind == "extra_forbidden":
        return f"unknown field; {msg.lower()} (see `twin scenario schema` for the fields)"
    if kind == "missing":
        return "required field missing"
    return msg.replace("Value error, ", "")


def expand_sweep(scenario: Scenario, sweep: Any, source: str = "<sweep>") -> list[Scenario]:
    """One scenario per combination of a sweep's ``grid`` or per entry of its ``list``.

    Raises
    ------
    ScenarioFileError
        An unknown path, a bad value, or more than :data:`MAX_SWEEP_SCENARIOS` combinations.
    """
    if not isinstance(sweep, dict) or not set(sweep) <= {"grid", "list"} or not sweep:
        raise ScenarioFileError(f"{source}: sweep must have 'grid' (a mapping of "
                                "'<change>.<field>': [values]) or 'list' (of such mappings)")
    combos: list[dict] = []
    if "grid" in sweep:
        grid = sweep["grid"]
        if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
            raise ScenarioFileError(f"{source}: sweep.grid must map '<change>.<field>' to a "
                                    "non-empty list of values")
        total = 1
        for v in grid.values():
            total *= len(v)
        if total > MAX_SWEEP_SCENARIOS:
            raise ScenarioFileError(
                f"{source}: sweep.grid makes {total:,} scenarios "
                f"({' x '.join(str(len(v)) for v in grid.values())}), more than the limit of "
                f"{MAX_SWEEP_SCENARIOS}; use fewer values or a sweep.list")
        combos += [dict(zip(grid, values, strict=True))
                   for values in itertools.product(*grid.values())]
    if "list" in sweep:
        if not isinstance(sweep["list"], list) or not all(isinstance(x, dict)
                                                          for x in sweep["list"]):
            raise ScenarioFileError(f"{source}: sweep.list must be a list of mappings")
        combos += sweep["list"]
    if len(combos) > MAX_SWEEP_SCENARIOS:
        raise ScenarioFileError(f"{source}: the sweep makes {len(combos):,} scenarios, more "
                                f"than the limit of {MAX_SWEEP_SCENARIOS}")
    out = []
    for combo in combos:
        out.append(override(scenario, combo, source))
    return out


def override(scenario: Scenario, values: dict, source: str = "<sweep>") -> Scenario:
    """A copy of ``scenario`` with ``{'<change id or type>.<field>' | 'base.<field>': value}``
    set, named ``name[path=value,…]``."""
    data = scenario.model_dump(mode="json")
    keys = [c.key for c in scenario.changes]
    for path, value in values.items():
        head, _, field = str(path).partition(".")
        if not field:
            raise ScenarioFileError(f"{source}: sweep key {path!r} must be "
                                    "'<change id or type>.<field>' or 'base.<field>'")
        if head == "base":
            target = data["base"]
        elif head in keys:
            target = data["changes"][keys.index(head)]
        else:
            raise ScenarioFileError(f"{source}: sweep key {path!r}: no change {head!r} in "
                                    f"scenario {scenario.name!r}; changes are {keys} (or base)")
        if field not in target:
            raise ScenarioFileError(f"{source}: sweep key {path!r}: no field {field!r}; "
                                    f"fields are {sorted(k for k in target if k != 'type')}")
        target[field] = value
    label = ",".join(f"{k}={v}" for k, v in values.items())
    data["name"] = f"{scenario.name}[{label}]"
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ScenarioFileError(f"{source}: sweep {label}: {field}: {_explain(err)}") from None


# ---------------------------------------------------------------------------------- YAML nodes

def _child(node, key):
    """The YAML node under ``key`` (mapping key or sequence index) of ``node``, or None."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == str(key):
                return v
    elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None


def _locate(node, loc: tuple):
    """The deepest YAML node along a pydantic error location (tags of unions skipped)."""
    found = node
    for part in loc:
        nxt = _child(found, part)
        if nxt is None:
            if isinstance(found, yaml.MappingNode):  # a missing field or a union's tag
                continue
            break
        found = nxt
    return found


def _line(node) -> int | str:
    return node.start_mark.line + 1 if node is not None else 1
