"""Scenarios: the layer every entry point (CLI, dashboard, planner scripts) goes through.

The base case at one moment (:func:`snapshot`) and the look-ahead (:func:`lookahead`) sit
beside the planner's what-if studies: a :class:`Scenario` (a base and typed changes, read from
YAML by :func:`load_scenario_file`) runs with :func:`run_scenario` into a
:class:`ScenarioResult` (metrics with units, time series, saved as NetCDF and reopened with
:func:`open_result`); :func:`compare` puts results side by side, :func:`run_sweep` spreads
many over Dask.
"""

from twin.scenario.changes import CHANGE_TYPES, Change
from twin.scenario.compare import compare, comparison_dataset, comparison_figures
from twin.scenario.lookahead import Lookahead, lookahead
from twin.scenario.metrics import METRICS
from twin.scenario.runner import (
    ScenarioCancelled,
    ScenarioResult,
    open_result,
    prepare,
    result_metrics,
    run_scenario,
)
from twin.scenario.schema import (
    MAX_SWEEP_SCENARIOS,
    Base,
    Scenario,
    ScenarioFileError,
    expand_sweep,
    load_scenario_file,
    parse_scenarios,
    scenario_schema,
    scenario_yaml,
)
from twin.scenario.snapshot import (
    MAX_LOADING_PERCENT,
    MIN_SERVICE_PRESSURE_M,
    VOLTAGE_BAND_PU,
    Snapshot,
    profiles_of,
    pump_state,
    snapshot,
)
from twin.scenario.study import ScenarioError
from twin.scenario.sweep import SweepOutcome, run_scenarios, run_sweep, validate_scenarios

__all__ = [
    "CHANGE_TYPES", "MAX_LOADING_PERCENT", "MAX_SWEEP_SCENARIOS", "METRICS",
    "MIN_SERVICE_PRESSURE_M", "VOLTAGE_BAND_PU", "Base", "Change", "Lookahead", "Scenario",
    "ScenarioCancelled", "ScenarioError", "ScenarioFileError", "ScenarioResult", "Snapshot",
    "SweepOutcome", "compare", "comparison_dataset", "comparison_figures", "expand_sweep", "load_scenario_file", "lookahead", "open_result", "parse_scenarios",
    "prepare", "profiles_of", "pump_state", "result_metrics", "run_scenario", "run_scenarios", "run_sweep",
    "scenario_schema", "scenario_yaml", "snapshot", "validate_scenarios",
]
