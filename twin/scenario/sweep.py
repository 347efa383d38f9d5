"""Many scenarios on a Dask cluster: one task per scenario, results streamed to disk.

The city and its profiles are scattered to the workers once; every scenario is one task of
``client.map`` (with retries), keyed by the scenario's hash. A task writes its result
atomically to ``<out>/<hash>.nc`` (temporary file, then rename), so a worker killed in the
middle leaves no partial file, and its retry writes the same file again: no scenario is lost
or duplicated. Scenarios whose file already exists are not run again (a sweep resumes).
The cluster comes from :func:`twin.parallel.dask_client` (a ``LocalCluster`` by default, a
running scheduler with ``scheduler=``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from twin.scenario.runner import result_file_name, result_metrics, run_scenario
from twin.scenario.schema import Scenario
from twin.scenario.study import ScenarioError

#: Times a scenario task is retried when its worker dies.
SWEEP_RETRIES = 3
#: Manifest of a sweep folder: scenario name -> result file.
MANIFEST = "sweep.json"


@dataclass
class SweepOutcome:
    """What a sweep produced.

    Attributes
    ----------
    files : dict
        Scenario name -> result file, one per scenario.
    metrics : DataFrame
        Scenario × metric values.
    skipped : list of str
        Scenarios whose result was already on disk.
    worker_memory_mib : dict
        Resident memory of each worker at the end [MiB].
    """

    files: dict
    metrics: pd.DataFrame
    skipped: list
    worker_memory_mib: dict


def _run_and_save(scenario: Scenario, city, profiles, out_dir: str) -> tuple[str, str, dict]:
    """One sweep task: run, write ``<hash>.nc`` atomically, return (name, file, metrics)."""
    path = Path(out_dir) / result_file_name(scenario)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():  # a retry after the file was written
        return scenario.name, str(path), result_metrics(path).value.to_dict()
    result = run_scenario(city, scenario, profiles=profiles)
    result.save(path)
    return scenario.name, str(path), result.metrics.value.to_dict()


def _worker_rss_mib() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def run_sweep(city, scenarios: Sequence[Scenario], out_dir: str | Path, *, client=None,
              scheduler: str | None = None, n_workers: int | None = None,
              profiles: dict | None = None,
              progress: Callable[[int, int, str], None] | None = None) -> SweepOutcome:
    """Run scenarios as Dask tasks, each result written to ``out_dir`` as it completes.

    Parameters
    ----------
    city : City
    scenarios : sequence of Scenario
        Distinct scenarios (a sweep expanded by :func:`twin.scenario.load_scenario_file`).
    out_dir : path
        Folder of the results (``<hash>.nc``) and the manifest ``sweep.json``.
    client : distributed.Client, optional
        Default: :func:`twin.parallel.dask_client` (``scheduler`` or a LocalCluster of
        ``n_workers``).
    progress : callable, optional
        ``progress(done, total, scenario name)`` as results arrive.

    Raises
    ------
    ScenarioError
        Two scenarios with the same name, or a task that failed after its retries (naming
        the scenario and the error).
    """
    from twin.scenario.snapshot import profiles_of

    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioError(f"scenarios {dup} appear twice in the sweep; names must differ")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [s for s in scenarios if not (out_dir / result_file_name(s)).exists()]
    skipped = [s.name for s in scenarios if s not in todo]
    if client is None:
        from twin.parallel import dask_client

        with dask_client(scheduler, n_workers=n_workers) as c:
            return run_sweep(city, scenarios, out_dir, client=c, profiles=profiles,
                             progress=progress)
    from distributed import as_completed

    done = len(skipped)
    rows: dict = {}
    if progress is not None:
        progress(done, len(scenarios), "")
    if todo:
        profiles = profiles if profiles is not None else profiles_of(city)
        city_f, prof_f = client.scatter([city, profiles], broadcast=True, hash=False)
        futures = client.map(_run_and_save, todo, city=city_f, profiles=prof_f,
                             out_dir=str(out_dir), retries=SWEEP_RETRIES, pure=False,
                             key=[f"scenario-{s.hash}" for s in todo])
        for fut in as_completed(futures):
            if fut.status == "error":
                scenario = todo[futures.index(fut)]
                exc = fut.exception()
                for f in futures:
                    f.cancel()
                raise ScenarioError(f"scenario {scenario.name!r} failed: {exc}") from exc
            name, _, values = fut.result()
            rows[name] = pd.Series(values)
            done += 1
            if progress is not None:
                progress(done, len(scenarios), name)
            fut.release()
    memory = client.run(_worker_rss_mib)
    files = {}
    for s in scenarios:
        path = out_dir / result_file_name(s)
        if not path.exists():
            raise ScenarioError(f"scenario {s.name!r} has no result {path} after the sweep")
        files[s.name] = path
        if s.name not in rows:
            rows[s.name] = result_metrics(path).value
    manifest = out_dir / MANIFEST
    tmp = manifest.with_suffix(".json.part")
    tmp.write_text(json.dumps({n: p.name for n, p in files.items()}, indent=1))
    tmp.replace(manifest)
    return SweepOutcome(files, pd.DataFrame(rows).T.loc[names], skipped,
                        {str(k): float(v) for k, v in memory.items()})


def run_scenarios(city, scenarios: Sequence[Scenario], out_dir: str | Path, *,
                  profiles: dict | None = None,
                  progress: Callable[[int, int, str], None] | None = None) -> dict[str, Path]:
    """Run scenarios one after the other in this process, each saved as ``<hash>.nc``.

    The serial counterpart of :func:`run_sweep` (same files; existing ones are kept).

    Returns
    -------
    dict
        Scenario name -> result file.
    """
    out_dir = Path(out_dir)
    files = {}
    for k, scenario in enumerate(scenarios):
        if progress is not None:
            progress(k, len(scenarios), scenario.name)
        files[scenario.name] = Path(_run_and_save(scenario, city, profiles, str(out_dir))[1])
    if progress is not None:
        progress(len(scenarios), len(scenarios), "")
    return files


def validate_scenarios(city, scenarios: Sequence[Scenario]) -> list[list[str]]:
    """Apply every scenario's changes to the city without solving; the notes of each.

    Raises
    ------
    ScenarioError
        The first scenario that does not fit the city, named with its change.
    """
    from twin.scenario.runner import prepare

    out = []
    for s in scenarios:
        try:
            out.append(prepare(city, s).notes)
        except ScenarioError as exc:
            text = str(exc)
            raise ScenarioError(text if text.startswith("scenario ") else
                                f"scenario {s.name!r}: {text}") from None
    return out
