"""1,000 hourly series, 8 weeks of history, day-ahead with intervals: Dask runner vs serial loop.

The series are real-shaped: the sample city's SimBench load profiles (hourly energy [kWh]),
each copy with its own scale and lognormal AR(1) noise. The twin's figure is the end-to-end
time of :func:`forecasts.runner.run_forecasts` on a fresh 2-worker ``LocalCluster`` (cluster
start included); its anchor, measured in the same run, is the serial loop of the same work
(:func:`forecasts.runner.run_serial`) timed on a subset and scaled to 1,000 series (said so in
the output). The target of issue 6 is < 90 s end to end.

Run: ``.venv/bin/python benchmarks/bench_forecast_scale.py [--series 1000] [--serial 40]``
"""

from __future__ import annotations

import argparse
import os
import time

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def real_shaped_series(n: int, weeks: int = 8, seed: int = 6) -> pd.DataFrame:
    """``n`` hourly series [kWh] of ``weeks`` weeks plus the target day, from the city's loads."""
    from twin.city import load_city
    from twin.scenario import profiles_of

    p = profiles_of(load_city())["load_p_mw"]
    hours = weeks * 7 * 24 + 48
    hourly = (p.iloc[: (24 * 120 + hours) * 4].resample("1h").sum() * 250.0).iloc[24 * 120:]
    hourly = hourly.iloc[:hours]
    hourly = hourly.loc[:, hourly.std() > 0]
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, hourly.shape[1], n)
    base = hourly.to_numpy()[:, cols]
    eps = rng.standard_normal(base.shape) * 0.08
    for t in range(1, len(eps)):  # AR(1) noise, 0.7
        eps[t] += 0.7 * eps[t - 1]
    values = base * rng.uniform(0.5, 2.0, n) * np.exp(eps * 0.7)
    return pd.DataFrame(values, index=hourly.index, columns=[f"s{i:04d}" for i in range(n)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--serial", type=int, default=40, help="series timed in the serial loop")
    ap.add_argument("--model", default="mstl_ets")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from forecasts import runner
    from forecasts.place import place_of_city
    from twin.city import load_city

    place = place_of_city(load_city())
    values = real_shaped_series(args.series)
    origin = values.index[-48] - pd.Timedelta("14h")  # ~10:00 local the day before
    horizon = 38
    history = values[values.index < origin]
    print(f"{args.series} series × {len(history)} hourly steps ({len(history) / 168:.1f} weeks);"
          f" model {args.model}, horizon {horizon} h, quantiles 0.1/0.5/0.9")

    from twin.parallel import dask_client

    t0 = time.perf_counter()
    with dask_client(None, args.workers) as client:
        t1 = time.perf_counter()
        ds = runner.run_forecasts(history, [origin], horizon, args.model,
                                  batch_size=args.batch_size, client=client, place=place)
        t2 = time.perf_counter()
    dask_s = time.perf_counter() - t0
    parts = (f"cluster start {t1 - t0:.1f} s, forecasts {t2 - t1:.1f} s, "
             f"shutdown {dask_s - (t2 - t0):.1f} s")
    n_ok = int((ds["model_used"] == args.model).sum())

    sub = history.iloc[:, : args.serial]
    t0 = time.perf_counter()
    serial = runner.run_serial(sub, [origin], horizon, args.model, place=place)
    serial_sub_s = time.perf_counter() - t0
    serial_s = serial_sub_s * args.series / args.serial
    same = np.allclose(serial["mean"].values, ds["mean"].sel(series=serial.series).values,
                       rtol=1e-9, equal_nan=True)

    print(f"{'':34s}{'seconds':>10s}")
    print(f"{'Dask, ' + str(args.workers) + '-worker LocalCluster, end to end':34s}"
          f"{dask_s:10.1f}   ({n_ok} of {args.series} by {args.model}, "
          f"{ds.attrs['batches']} batches of {args.batch_size})")
    print(f"{'':34s}{'':10s}   ({parts})")
    print(f"{'serial loop, this process':34s}{serial_s:10.1f}   (measured on {args.serial} "
          f"series: {serial_sub_s:.1f} s, scaled ×{args.series / args.serial:.0f})")
    print(f"speed-up {serial_s / dask_s:.2f}×; target < 90 s: "
          f"{'met' if dask_s < 90 else 'NOT met'}; same forecasts as the serial loop: {same}")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()} on {os.cpu_count()} cores")
    obs = values.loc[values.index >= origin].iloc[:horizon]
    cover = ((obs.to_numpy().T >= ds["forecast"].isel(issue_time=0, quantile=0).values)
             & (obs.to_numpy().T <= ds["forecast"].isel(issue_time=0, quantile=-1).values))
    print(f"80 % interval coverage on the target hours: {cover.mean():.1%}")
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"client peak memory (this process, max RSS): {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
