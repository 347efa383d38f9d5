"""Benchmark of the maintenance ranking against the failure generator's held-out years.

For each seed the generator (:mod:`twin.synthetic.failures`) draws a work-order history of
ten years and a held-out year from its hidden hazard; the twin ranks the assets from the
history and the simulated year (it never reads the hazard), and the ranking is scored on the
held-out year beside the usual practice, ranking by age alone:

* concordance (Harrell's C) of the PoF with the failures of the held-out year, per class and
  overall;
* the share of the held-out year's failures that fall in the top 10 % of ranked assets;

and beside both the hidden rate itself (the ceiling any ranking can reach on the same draw of
a year, which has few failures per class).

Then the same with one input left out at a time (loading, pressure, breaks, inspections), to
show what each adds; the time of ranking + plan + a 30-page PDF (warm, second run in the
process); and the ranking of the city-scale SimBench grid ``1-MVLV-urban-all-0-sw`` (a city
built from it with the sample city's generator, over a window of its profiles).

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_maintenance.py [--seeds 14 1 2]
[--city-scale] [--window-days 28]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FLOOR_C_OVERALL = 0.75
FLOOR_C_GAIN = 0.10  # above age-only, pipes and transformers
FLOOR_WARM_S = 60.0
FLOOR_CITY_SCALE_S = 300.0


def scores(ranking: pd.DataFrame, future: pd.DataFrame, score_col: str) -> pd.DataFrame:
    """C-index and top-10 % capture per class and overall of one score column."""
    from twin.maintenance.pipes import concordance

    r = ranking[ranking.age_years > 0]
    obs = future.asset_id.value_counts().reindex(r.asset_id, fill_value=0).to_numpy()
    rows = []
    groups = [("all", np.ones(len(r), bool))] + [
        (c, r.asset_class.eq(c).to_numpy()) for c in sorted(r.asset_class.unique())]
    for name, m in groups:
        if obs[m].sum() == 0 or m.sum() < 2:
            continue
        s = r[score_col].to_numpy(float)[m]
        o = obs[m]
        k = max(1, int(np.ceil(0.1 * m.sum())))
        top = np.argsort(-s, kind="stable")[:k]
        rows.append((name, int(m.sum()), int(o.sum()), concordance(s, o), o[top].sum() / o.sum()))
    return pd.DataFrame(rows, columns=["class", "assets", "failures", "c_index", "top10_share"])


def accuracy(city, obs, seeds: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    from twin.maintenance import INPUTS, assess
    from twin.maintenance.assess import CONSEQUENCE_COLUMNS
    from twin.synthetic.failures import build_failures

    per_seed, ablation = [], []
    cof = None
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            build_failures(city, tmp, seed=seed, observations=obs)
            future = pd.read_csv(Path(tmp) / "truth" / "work_orders_future.csv")
            history = Path(tmp) / "cmms.csv"
            (Path(tmp) / "work_orders.csv").rename(history)  # only the export beside nothing
            a = assess(city, history=history, observations=obs, consequences=cof)
            if cof is None:
                cof = a.ranking[["asset_id", "cof_money", *CONSEQUENCE_COLUMNS]]
            model = scores(a.ranking, future, "pof_per_year").assign(ranking="twin")
            age = scores(a.ranking, future, "age_years").assign(ranking="age only")
            # the ceiling: the hidden rate itself scored on the same draw (read here only)
            hazard = pd.read_csv(Path(tmp) / "truth" / "hazard.csv").set_index("asset_id")
            truth = scores(a.ranking.assign(hidden=hazard.rate_per_year.reindex(
                a.ranking.asset_id).to_numpy()), future, "hidden").assign(ranking="hidden rate")
            per_seed.append(pd.concat([model, age, truth]).assign(seed=seed))
            for left_out in sorted(INPUTS):
                b = assess(city, history=history, observations=obs, consequences=cof,
                           inputs=INPUTS - {left_out})
                ablation.append(scores(b.ranking, future, "pof_per_year").assign(
                    without=left_out, seed=seed))
            ablation.append(model.drop(columns="ranking").assign(without="(nothing)", seed=seed))
            print(f"seed {seed}: overall C {model.c_index.iat[0]:.3f} (age only "
                  f"{age.c_index.iat[0]:.3f}); {a.break_model_reason}", flush=True)
    return pd.concat(per_seed), pd.concat(ablation)


def timing(city, top: int = 25) -> dict:
    """Ranking + 1- and 5-year plan + the PDF, in a warm process (second run)."""
    from twin.maintenance import assess, plan, write_report
    from twin.maintenance.observations import observe
    from twin.synthetic.failures import build_failures

    with tempfile.TemporaryDirectory() as tmp:
        obs = observe(city)
        build_failures(city, tmp, seed=14, observations=obs)
        out = {}
        for run in ("cold", "warm"):
            c0 = time.process_time()
            t0 = time.perf_counter()
            a = assess(city, history=Path(tmp) / "work_orders.csv")  # observes the year again
            t1 = time.perf_counter()
            plan(a.ranking, 2e6, 1)
            plan(a.ranking, 2e6, 5)
            t2 = time.perf_counter()
            path = write_report(a, Path(tmp) / f"{run}.pdf", budget=2e6, top=top)
            t3 = time.perf_counter()
            from pypdf import PdfReader

            out[run] = {"ranking_s": t1 - t0, "plan_s": t2 - t1, "pdf_s": t3 - t2,
                        "total_s": t3 - t0, "cpu_s": time.process_time() - c0,
                        "pages": len(PdfReader(str(path)).pages)}
        return out


def city_scale_city(sample, code: str = "1-MVLV-urban-all-0-sw", seed: int = 2016):
    """A City on the city-scale SimBench grid: its transformers (HV/MV and MV/LV), lines and
    switches as the electric asset register, one customer per load, and the sample city's
    water network and water assets (the sample generator builds LV-load grids only). Install
    years are drawn as the sample generator draws them."""
    from twin.city import City, CityRecipe
    from twin.electric.network import simbench_grid

    rng = np.random.default_rng(seed)
    net = simbench_grid(code)
    rows = []
    for idx, t in net.trafo.iterrows():
        power = t.vn_hv_kv >= 60
        rows.append(("hv_mv_transformer" if power else "distribution_transformer", "electric",
                     "trafo", str(idx), int(rng.integers(1972, 2006)) if power else
                     int(np.clip(rng.normal(1992, 12), 1960, 2024)), str(t.std_type),
                     float(t.sn_mva * (1 if power else 1000)), "MVA" if power else "kVA", 0.0,
                     5 if power else 3))
    for idx, ln in net.line.iterrows():
        rows.append(("cable", "electric", "line", str(idx), int(rng.integers(1978, 2023)),
                     str(ln.std_type), float(ln.max_i_ka), "kA", float(ln.length_km * 1000), 3))
    for idx in net.switch.index:
        rows.append(("switch", "electric", "switch", str(idx), int(rng.integers(1980, 2024)),
                     "load-break switch", 630.0, "A", 0.0, 2))
    cols = ["asset_class", "network", "element_table", "element", "install_year",
            "type_material", "rating", "rating_unit", "length_m", "criticality"]
    electric = pd.DataFrame(rows, columns=cols)
    water = sample.assets[sample.assets.network.eq("water")
                          & ~sample.assets.asset_class.isin(["pump", "flow_meter"])][cols]
    assets = pd.concat([electric, water], ignore_index=True)
    assets.insert(0, "asset_id", [f"A-{i:06d}" for i in range(1, len(assets) + 1)])
    junctions = np.array(sample.demand_junctions)
    customers = pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(len(net.load))],
        "customer_class": "residential", "load": net.load.index.to_numpy(),
        "bus": net.load.bus.to_numpy(),
        "junction": junctions[np.arange(len(net.load)) % len(junctions)]})
    return City(CityRecipe(name="City scale", electric_grid=code), net, sample.wn, sample.dmas,
                sample.dma_meters, sample.pumps.iloc[0:0], assets, customers)


def city_scale(sample, window_days: int) -> dict:
    """Rank the city on ``1-MVLV-urban-all-0-sw`` over ``window_days`` of its profiles."""
    from twin.electric.profiles import SimbenchProfileSource
    from twin.maintenance import assess
    from twin.maintenance.observations import observe
    from twin.synthetic.failures import build_failures

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        city = city_scale_city(sample)
        t1 = time.perf_counter()
        src = SimbenchProfileSource(city.net, city.recipe.year, city.recipe.timezone,
                                    dtype=np.float32)
        peak = _peak_window(src, window_days)
        profiles = {name: src.table(name, peak).astype(float) for name in src.names}
        t2 = time.perf_counter()
        obs = observe(city, profiles)
        build_failures(city, Path(tmp) / "wo", seed=14, observations=obs)
        t3 = time.perf_counter()
        c3 = time.process_time()
        a = assess(city, history=Path(tmp) / "wo" / "work_orders.csv", profiles=profiles,
                   progress=lambda s: print(f"  {time.perf_counter() - t3:6.1f} s  {s}",
                                            flush=True))
        t4 = time.perf_counter()
        return {"assets": len(city.assets), "buses": len(city.net.bus),
                "build_city_s": t1 - t0, "profiles_s": t2 - t1, "history_s": t3 - t2,
                "ranking_s": t4 - t3, "ranking_cpu_s": time.process_time() - c3,
                "window_days": window_days,
                "top": a.ranking.head(3).asset_id.tolist()}


def _peak_window(src, days: int) -> np.ndarray:
    """Positions of the ``days`` around the year's peak total load."""
    from twin.electric.contingency import profile_totals

    total = profile_totals(src)["load_p_mw"]
    steps = days * 96
    centre = int(np.argmax(total.to_numpy()))
    first = int(np.clip(centre - steps // 2, 0, len(total) - steps))
    return np.arange(first, first + steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[14, 1, 2, 3, 4])
    ap.add_argument("--city-scale", action="store_true")
    ap.add_argument("--window-days", type=int, default=28)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args()
    from twin.city import load_city
    from twin.maintenance.observations import observe

    pd.set_option("display.width", 160)
    city = load_city()
    if not args.skip_accuracy:
        obs = observe(city)
        per_seed, ablation = accuracy(city, obs, args.seeds)
        mean = per_seed.groupby(["class", "ranking"])[["failures", "c_index", "top10_share"]
                                                       ].mean().unstack("ranking")
        print("\nHeld-out year, mean over seeds", args.seeds, "(failures: mean per year)")
        print(mean.round(3).to_string())
        first = per_seed[per_seed.seed == args.seeds[0]].pivot_table(
            index="class", columns="ranking", values=["failures", "c_index", "top10_share"])
        print(f"\nHeld-out year of seed {args.seeds[0]} alone")
        print(first.round(3).to_string())
        ab = ablation[ablation["class"].isin(["all", "pipe", "distribution_transformer",
                                               "cable"])].groupby(["without", "class"]
                                                                   ).c_index.mean().unstack()
        print("\nC-index with one input left out (mean over seeds)")
        print(ab.round(3).to_string())
        c = mean["c_index"]
        checks = [("overall C-index", c.loc["all", "twin"], FLOOR_C_OVERALL)]
        for cls_name in ("pipe", "distribution_transformer"):
            if cls_name in c.index:
                checks.append((f"{cls_name} C gain over age", c.loc[cls_name, "twin"]
                               - c.loc[cls_name, "age only"], FLOOR_C_GAIN))
        for name, value, floor in checks:
            print(f"{name}: {value:.3f} (floor {floor}) {'ok' if value >= floor else 'BELOW'}")
    if not args.skip_timing:
        t = timing(city)
        print("\nRanking + plan (1 and 5 years) + PDF on the sample city:")
        for run, v in t.items():
            print(f"  {run}: ranking {v['ranking_s']:.1f} s, plan {v['plan_s']:.1f} s, PDF "
                  f"{v['pdf_s']:.1f} s ({v['pages']} pages), total {v['total_s']:.1f} s wall, "
                  f"{v['cpu_s']:.1f} s CPU of this process")
        print(f"  warm total {t['warm']['total_s']:.1f} s (floor {FLOOR_WARM_S:.0f} s, "
              "measured under the other developers' load)")
    if args.city_scale:
        cs = city_scale(city, args.window_days)
        print(f"\nCity scale ({cs['buses']} buses, {cs['assets']} assets): ranking "
              f"{cs['ranking_s']:.1f} s wall, {cs['ranking_cpu_s']:.1f} s CPU "
              f"(floor {FLOOR_CITY_SCALE_S:.0f} s) over "
              f"{cs['window_days']} days of profiles; city built in {cs['build_city_s']:.0f} s, "
              f"profiles {cs['profiles_s']:.0f} s, history {cs['history_s']:.0f} s; "
              f"top {cs['top']}")


if __name__ == "__main__":
    main()
