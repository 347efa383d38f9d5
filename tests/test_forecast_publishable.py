"""Which look-ahead forecasts may be shown: hand-built hierarchies against the aggregation rules.

Electricity: ``load:1`` is two houses' meters (too few), ``load:2`` 100 houses (passes),
``load:3`` 100 houses and 15 shops one of which uses half the shops' energy (dominant),
``load:4`` is fed by the model's profile (no reading at all). PV: one roof (one customer).
Water: a DMA of 120 houses and 15 shops of equal use (passes).
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from forecasts.data import INVERTER_PREFIX, HierarchicalSeries, Hierarchy
from forecasts.lookahead import LookaheadForecasts
from forecasts.publishable import publishable_forecasts, publishable_series

TIMES = pd.date_range("2016-07-01", periods=24, freq="1h", tz="UTC")


def hierarchy(name, levels, members, unit="kWh"):
    """members: (bottom id, {level: node}, use per hour, stored?)."""
    bottom = pd.DataFrame({b: use for b, _, use, _ in members}, index=TIMES)
    parents = pd.DataFrame([p | {"city": "city"} for _, p, _, _ in members],
                           index=[b for b, *_ in members])
    source = pd.Series(["store:x" if s else "profile:x" for *_, s in members], index=parents.index)
    return HierarchicalSeries(name, bottom, Hierarchy(parents, levels), unit,
                              pd.Timedelta("1h"), source)


def electric():
    m = [(f"meter:E{i}", {"load": "load:1", "feeder": "feeder:F"}, 1.0, True) for i in range(2)]
    m += [(f"meter:E1{i:02d}", {"load": "load:2", "feeder": "feeder:F"}, 1.0, True)
          for i in range(100)]
    m += [(f"meter:E3{i:02d}", {"load": "load:3", "feeder": "feeder:F"}, 1.0, True)
          for i in range(100)]
    m += [(f"meter:S3{i:02d}", {"load": "load:3", "feeder": "feeder:F"}, 1.0, True)
          for i in range(14)]
    m += [("meter:S399", {"load": "load:3", "feeder": "feeder:F"}, 14.0, True)]  # 14 of 28
    m += [("load:4", {"load": "load:4", "feeder": "feeder:F"}, 5.0, False)]
    return hierarchy("electric", ("meter", "load", "feeder", "city"), m)


def register():
    houses = ([f"E{i}" for i in range(2)] + [f"E1{i:02d}" for i in range(100)]
              + [f"E3{i:02d}" for i in range(100)])
    shops = [f"S3{i:02d}" for i in range(14)] + ["S399"]
    water_houses, water_shops = [f"W{i:03d}" for i in range(120)], [f"WS{i}" for i in range(15)]
    n = len(houses) + len(shops)
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "customer_class": ["residential"] * len(houses) + ["commercial"] * len(shops),
        "electric_meter_id": houses + shops,
        "water_meter_id": water_houses + water_shops + [""] * (n - 135)})


def test_loads_of_few_customers_or_a_dominant_one_are_withheld_profiles_shown():
    shown, withheld = publishable_series(electric(), register(), "load")
    assert shown == ["load:2", "load:4"]
    assert [v.rule for v in withheld["load:1"]] == ["residential minimum"]
    assert [v.rule for v in withheld["load:3"]] == ["non-residential 15 % share"]


def test_a_meter_the_register_does_not_know_withholds_its_load():
    customers = register()
    customers = customers[customers.electric_meter_id != "E100"]
    _, withheld = publishable_series(electric(), customers, "load")
    assert withheld["load:2"] == ["1 of its meters are not in the customer register"]


def test_the_lookahead_datasets_keep_only_what_may_be_shown():
    customers = register()
    pv = hierarchy("pv", ("inverter", "sgen", "feeder", "city"), [
        (f"inverter:{INVERTER_PREFIX}{customers.customer_id[0]}",
         {"sgen": "sgen:7", "feeder": "feeder:F"}, 2.0, True)])
    water = hierarchy("water", ("meter", "dma", "city"), [
        (f"meter:{w}", {"dma": "dma:D"}, 0.1, True) for w in customers.water_meter_id[:135]],
        unit="m3")

    def ds(ids):
        return xr.Dataset(coords={"series": ids})

    fc = LookaheadForecasts(TIMES[0], 48, ds(["load:1", "load:2", "load:3", "load:4"]),
                            ds(["sgen:7"]), ds(["dma:D"]), electric(), pv, water)
    shown, notes = publishable_forecasts(fc, customers)
    assert shown == {"loads": ["load:2", "load:4"], "pv": [], "water": ["dma:D"]}
    assert len(notes) == 2
    assert notes[0].startswith("2 of 4 loads forecasts are withheld")
    assert notes[1].startswith("1 of 1 pv forecasts are withheld") and "residential minimum" \
        in notes[1]
