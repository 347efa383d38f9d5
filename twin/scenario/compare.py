"""Scenarios side by side: a metric table against the base, and figures on shared axes.

:func:`compare` gives metric × scenario values and their change from the base (the first
result unless named); :func:`comparison_figures` draws what a planner would rather look at
(matplotlib, PNG): feeder loading duration curves, voltage envelopes per feeder, DMA pressure
envelopes and monthly losses, every scenario on the same axes as the base.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from twin.scenario.metrics import METRICS
from twin.scenario.study import ScenarioError

#: Longest period drawn step by step in envelopes; longer ones are drawn as daily extremes [d].
ENVELOPE_DAILY_AFTER_DAYS = 14


def _pick_base(results: Sequence, base: str | None):
    if not results:
        raise ScenarioError("nothing to compare: give at least one result")
    names = [r.name for r in results]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ScenarioError(f"results {dup} appear twice; give each scenario once")
    if base is None:
        return results[0]
    if base not in names:
        raise ScenarioError(f"base {base!r} is not among the results {names}")
    return results[names.index(base)]


def compare(results: Sequence, base: str | None = None) -> pd.DataFrame:
    """Metric × scenario table with each scenario's change from the base.

    Parameters
    ----------
    results : sequence of ScenarioResult
    base : str, optional
        Name of the base scenario (default: the first result).

    Returns
    -------
    DataFrame
        Index ``(metric, unit)``; columns ``(scenario, "value" | "delta")``, delta being
        value − base value in the metric's unit. ``attrs["base"]`` names the base.
    """
    ref = _pick_base(results, base)
    ref_v = ref.metrics.value
    cols = {}
    for r in results:
        v = r.metrics.value.reindex(ref_v.index)
        cols[(r.name, "value")] = v
        cols[(r.name, "delta")] = v - ref_v
    out = pd.DataFrame(cols)
    out.index = pd.MultiIndex.from_arrays(
        [ref_v.index, [METRICS[k][0] for k in ref_v.index]], names=["metric", "unit"])
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["scenario", "kind"])
    out.attrs["base"] = ref.name
    return out


def comparison_dataset(results: Sequence) -> xr.Dataset:
    """All results in one dataset along ``scenario`` (outer join of times and elements)."""
    return xr.concat([r.dataset for r in results], dim="scenario", join="outer",
                     combine_attrs="drop_conflicts")


# ---------------------------------------------------------------------------------- figures

def feeder_loading(ds: xr.Dataset) -> pd.DataFrame:
    """Highest line loading of each feeder at each step [%] (time × feeder)."""
    loading = ds["line_loading_percent"].to_pandas()
    feeders = ds["line_feeder"].to_series().reindex(loading.columns)
    keep = feeders.str.startswith("F").to_numpy()
    return loading.loc[:, keep].T.groupby(feeders[keep].to_numpy()).max().T


def feeder_voltage_envelope(ds: xr.Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lowest and highest bus voltage of each feeder at each step [p.u.] (time × feeder)."""
    vm = ds["vm_pu"].to_pandas()
    feeders = ds["bus_feeder"].to_series().reindex(vm.columns)
    keep = feeders.str.startswith("F").to_numpy()
    g = vm.loc[:, keep].T.groupby(feeders[keep].to_numpy())
    return g.min().T, g.max().T


def dma_pressure_envelope(ds: xr.Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lowest and highest demand-junction pressure of each DMA at each water step [m]."""
    p = ds["pressure_m"].to_pandas()
    dmas = ds["node_dma"].to_series().reindex(p.columns)
    kind = ds["node_kind"].to_series().reindex(p.columns)
    keep = (dmas.str.startswith("DMA") & (kind == "demand junction")).to_numpy()
    g = p.loc[:, keep].T.groupby(dmas[keep].to_numpy())
    return g.min().T, g.max().T


def monthly_losses_mwh(ds: xr.Dataset) -> pd.Series:
    """Technical losses per month of the result [MWh] (converged steps)."""
    losses = ds["losses_mw"].to_series().where(ds["converged"].to_series().astype(bool))
    step_h = float(np.diff(ds.time.values[:2]).astype("timedelta64[s]").astype(float)[0]
                   / 3600.0) if ds.sizes["time"] > 1 else 0.25
    tz = ds.attrs.get("timezone", "UTC")
    local = losses.index.tz_localize("UTC").tz_convert(tz)
    return (losses.groupby(local.strftime("%Y-%m")).sum() * step_h).rename("losses_mwh")


def comparison_figures(results: Sequence, out_dir: str | Path,
                       base: str | None = None) -> dict[str, Path]:
    """Draw the comparison figures as PNG files in ``out_dir``.

    Returns
    -------
    dict
        Figure name -> file: ``feeder_loading_duration``, ``feeder_voltage_envelope``,
        ``dma_pressure_envelope``, ``monthly_losses``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = _pick_base(results, base)
    ordered = [ref] + [r for r in results if r is not ref]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    colours = {r.name: ("black" if r is ref else f"C{i}") for i, r in enumerate(ordered)}
    sets = [(r.name, r.dataset.isel(scenario=0)) for r in ordered]
    files = {}

    def grid(names: list[str], title: str):
        n = max(len(names), 1)
        ncol = min(4, n)
        nrow = int(np.ceil(n / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 2.8 * nrow), squeeze=False,
                                 sharey=True)
        fig.suptitle(title)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        return fig, dict(zip(names, axes.flat, strict=False))

    def save(fig, name: str) -> None:
        handles = {}
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        fig.legend(handles.values(), handles.keys(), loc="lower center",
                   ncol=min(4, len(handles)), fontsize="small", frameon=False)
        fig.tight_layout(rect=(0, 0.06, 1, 0.96))
        files[name] = out_dir / f"{name}.png"
        fig.savefig(files[name], dpi=90)
        plt.close(fig)

    # loading duration curves per feeder
    loads = {name: feeder_loading(ds) for name, ds in sets}
    feeders = sorted(set().union(*[set(df.columns) for df in loads.values()]),
                     key=lambda f: int(f[1:]) if f[1:].isdigit() else 0)
    fig, axes = grid(feeders, "Feeder loading duration curves (highest line loading)")
    for name, df in loads.items():
        for f in feeders:
            if f in df:
                y = np.sort(df[f].dropna().to_numpy())[::-1]
                x = np.linspace(0, 100, len(y)) if len(y) else []
                axes[f].plot(x, y, color=colours[name], lw=1, label=name)
                axes[f].set_title(f, fontsize="small")
                axes[f].set_xlabel("share of time [%]", fontsize="x-small")
    for ax in axes.values():
        ax.axhline(100, color="red", lw=0.6, ls=":")
    next(iter(axes.values())).set_ylabel("loading [%]")
    save(fig, "feeder_loading_duration")

    # voltage envelopes per feeder
    env = {name: feeder_voltage_envelope(ds) for name, ds in sets}
    fig, axes = grid(feeders, "Voltage envelope per feeder (lowest and highest bus)")
    for name, (lo, hi) in env.items():
        lo, hi = _daily_if_long(lo, hi)
        for f in feeders:
            if f in lo:
                axes[f].fill_between(lo.index, lo[f], hi[f], color=colours[name], alpha=0.25,
                                     lw=0, label=name)
                axes[f].plot(lo.index, lo[f], color=colours[name], lw=0.6)
                axes[f].plot(hi.index, hi[f], color=colours[name], lw=0.6)
                axes[f].set_title(f, fontsize="small")
                axes[f].tick_params(axis="x", labelsize="x-small", rotation=30)
    next(iter(axes.values())).set_ylabel("voltage [p.u.]")
    save(fig, "feeder_voltage_envelope")

    # DMA pressure envelopes
    penv = {name: dma_pressure_envelope(ds) for name, ds in sets}
    dmas = sorted(set().union(*[set(lo.columns) for lo, _ in penv.values()]))
    fig, axes = grid(dmas, "Pressure envelope per DMA (lowest and highest junction)")
    for name, (lo, hi) in penv.items():
        lo, hi = _daily_if_long(lo, hi)
        for d in dmas:
            if d in lo:
                axes[d].fill_between(lo.index, lo[d], hi[d], color=colours[name], alpha=0.25,
                                     lw=0, label=name)
                axes[d].plot(lo.index, lo[d], color=colours[name], lw=0.6)
                axes[d].set_title(d, fontsize="small")
                axes[d].tick_params(axis="x", labelsize="x-small", rotation=30)
    limit = float(ref.scenario.base.min_pressure_m)
    for ax in axes.values():
        ax.axhline(limit, color="red", lw=0.6, ls=":")
    next(iter(axes.values())).set_ylabel("pressure [m]")
    save(fig, "dma_pressure_envelope")

    # monthly losses
    monthly = pd.DataFrame({name: monthly_losses_mwh(ds) for name, ds in sets})
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(monthly) * max(1, len(sets)) / 2), 3.5))
    width = 0.8 / max(len(sets), 1)
    x = np.arange(len(monthly))
    for k, name in enumerate(monthly.columns):
        ax.bar(x + k * width - 0.4 + width / 2, monthly[name], width, color=colours[name],
               label=name)
    ax.set_xticks(x, monthly.index)
    ax.set_ylabel("losses [MWh]")
    ax.set_title("Technical losses per month")
    save(fig, "monthly_losses")
    return files


def _daily_if_long(lo: pd.DataFrame, hi: pd.DataFrame):
    """Daily extremes for long periods (a year of 15-min steps would draw as a block)."""
    span = (lo.index[-1] - lo.index[0]) if len(lo) else pd.Timedelta(0)
    if span > pd.Timedelta(days=ENVELOPE_DAILY_AFTER_DAYS):
        return lo.resample("1D").min(), hi.resample("1D").max()
    return lo, hi
