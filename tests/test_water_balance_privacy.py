"""The water balance as it may be shown: hand-built DMAs against the aggregation rules.

Four DMAs and a source zone, each customer's read volume chosen by hand:

* ``A``: 50 houses (2 m³ each): fewer than the 100 residential customers the rule asks;
* ``B``: 120 houses and 20 shops, one shop with 12 of the shops' 31 m³ (38.7 % > 15 %);
* ``C``: 150 houses (2 m³) and 20 shops (5 m³ each, 5 % each): passes, NRW by hand;
* ``D``: 10 houses without reads, billed on an estimate from the city's read customers.

The city's own customers pass (the big shop is 12 of 131 m³ of the city's shops, 9.2 %), but
the city less ``C`` (the only DMA shown) is ``A`` + ``B``, whose 20 shops fail the share rule:
shown, the city row would give ``A`` + ``B`` by subtraction, so it is withheld too.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from twin.ingest.privacy import withheld_groups
from twin.water.balance import MEASURED_ONLY, billed_metered_m3, water_balance
from twin.water.balance_privacy import (
    CUSTOMER_DERIVED,
    publishable_balance,
    publishable_night_flow,
)

ZONES = pd.Series({"a1": "A", "b1": "B", "c1": "C", "d1": "D", "s1": "source"})
SIV_M3 = {"A": 130.0, "B": 400.0, "C": 600.0, "D": 30.0}
DAYS = 7.0


def register(shop_b_m3: float = 12.0, houses_b: int = 120, source_houses: int = 0):
    """Customers and their read volumes [m³] (D's houses unread)."""
    rows = ([("A", "residential", 2.0)] * 50
            + [("B", "residential", 2.0)] * houses_b + [("B", "commercial", 1.0)] * 19
            + [("B", "industrial", shop_b_m3)]
            + [("C", "residential", 2.0)] * 150 + [("C", "commercial", 5.0)] * 20
            + [("D", "residential", np.nan)] * 10
            + [("source", "residential", 2.0)] * source_houses)
    junction = {z: j for j, z in ZONES.items()}
    customers = pd.DataFrame({
        "customer_class": [k for _, k, _ in rows],
        "water_meter_id": [f"WM{i:05d}" for i in range(len(rows))],
        "junction": [junction[z] for z, _, _ in rows]})
    read = pd.Series([v for _, _, v in rows], index=customers.water_meter_id).dropna()
    return customers, read


def balance(customers, read):
    """The real balance of the hand-built city (no assumed terms: NRW = SIV − billed)."""
    reads = pd.DataFrame({"series_id": read.index, "value": read.to_numpy()})
    billed = billed_metered_m3(reads, customers, ZONES, pd.Series(1.0, index=ZONES.index))
    siv = pd.Series(SIV_M3 | {"city": sum(SIV_M3.values())})
    table = pd.DataFrame({"mains_km": 1.0, "connections": 100, "pressure_m": 40.0},
                         index=siv.index)
    return water_balance(siv, billed, table, DAYS, MEASURED_ONLY)


def test_too_few_customers_and_a_dominant_one_withhold_their_zone_and_the_city():
    customers, read = register()
    full = balance(customers, read)
    out, notes = publishable_balance(full, customers, ZONES, read)

    # C passes: its figures are the balance's, and the balance's are the hand's
    assert not out.loc["C", "withheld"]
    assert out.loc["C", "billed_metered_m3"] == pytest.approx(150 * 2 + 20 * 5)
    assert out.loc["C", "nrw_m3"] == pytest.approx(600 - 400)
    assert out.loc["C", "nrw_percent"] == pytest.approx(100 * 200 / 600)
    assert out.loc["C", "ili"] == pytest.approx(full.loc["C", "ili"])

    withheld = ["A", "B", "D", "city"]
    assert list(out.index[out.withheld]) == withheld
    assert out.loc[withheld, list(CUSTOMER_DERIVED)].isna().all().all()
    assert out.loc[withheld, "consistent"].isna().all()
    # what holds no customer's use stays
    for col in ("siv_m3", "unbilled_authorised_m3", "uarl_l_day", "connections",
                "ili_indicative"):
        assert (out[col] == full[col]).all(), col
    assert full.loc["D", "billed_estimated_m3"] > 0  # D is billed on the city's reads

    assert len(notes) == 4 and [n.split(" ", 1)[0] for n in notes] == withheld
    a, b, d, city = notes
    assert "residential minimum (50 residential customers, at least 100 needed)" in a
    assert "15 % share" in b and "minimum" not in b
    assert "no read meter" in d and "estimated from the city's read customers" in d
    assert "less the groups shown" in city and "15 % share" in city
    assert all("NRW" in n and "system input is shown" in n for n in notes)
    # no note gives a use away: the only figures in B's are the rule's own 15 %
    assert re.findall(r"\d+(?:\.\d+)?", b) == ["15", "15.0"]


def test_the_city_is_shown_when_the_withheld_zones_pass_together():
    # B has 60 houses now (too few) and no big shop: A and B each fail, but together they
    # are 110 houses and 20 shops of 5 % each, so the city less C may be known
    customers, read = register(shop_b_m3=1.0, houses_b=60)
    full = balance(customers, read)
    out, notes = publishable_balance(full, customers, ZONES, read)
    assert list(out.index[out.withheld]) == ["A", "B"]
    assert [n.split(" ", 1)[0] for n in notes] == ["A", "B"]
    billed_read = 50 * 2 + 60 * 2 + 20 * 1 + 150 * 2 + 20 * 5
    assert out.loc["city", "billed_metered_m3"] == pytest.approx(
        billed_read + full.loc["D", "billed_estimated_m3"])
    assert out.loc["city", "nrw_m3"] == pytest.approx(sum(SIV_M3.values()) - float(
        out.loc["city", "billed_metered_m3"]))
    assert out.loc["D", "nrw_m3"] == pytest.approx(full.loc["D", "nrw_m3"])  # city shown

    # 60 read houses in the source zone are in no DMA and not in the city row: they must
    # not pad A's 50 and B's 20 houses up to the minimum
    customers, read = register(shop_b_m3=1.0, houses_b=20, source_houses=60)
    out, _ = publishable_balance(balance(customers, read), customers, ZONES, read)
    assert list(out.index[out.withheld]) == ["A", "B", "D", "city"]
    # with the city shown, D (billed on every read customer) less the city row would give
    # those 60 houses' sum: D is withheld
    customers, read = register(shop_b_m3=1.0, houses_b=60, source_houses=60)
    out, notes = publishable_balance(balance(customers, read), customers, ZONES, read)
    assert list(out.index[out.withheld]) == ["A", "B", "D"]
    assert "read customers in no DMA" in notes[2] and "residential minimum" in notes[2]


def test_a_total_over_one_withheld_group_would_give_it_away():
    # the generic check: X passes, Y does not; the total less X is Y
    who = pd.DataFrame({"customer_class": ["residential"] * 150,
                        "g": ["X"] * 120 + ["Y"] * 30, "use": 1.0})
    assert set(withheld_groups(who, ["X", "Y"], "g", "use")) == {"Y"}
    assert set(withheld_groups(who, ["X", "Y"], "g", "use", total="all")) == {"Y", "all"}
    assert withheld_groups(who, ["X"], "g", "use", total="all")["all"][0].rule == \
        "residential minimum"


def test_night_flow_of_a_withheld_zone_keeps_only_the_scada_figures():
    night = pd.DataFrame({"dma": ["A", "C"], "mnf_l_s": [3.0, 4.0], "night_use_l_s": [1.0, 2.0],
                          "nnf_l_s": [2.0, 2.0], "nnf_trend_l_s": [2.0, 2.0],
                          "leakage_m3_day": [150.0, 150.0], "flags": ["x", ""]})
    out = publishable_night_flow(night, ["A"])
    assert out.loc[0, ["night_use_l_s", "nnf_l_s", "nnf_trend_l_s",
                       "leakage_m3_day"]].isna().all()
    assert out.loc[0, "mnf_l_s"] == 3.0 and out.loc[0, "flags"] == ""
    assert out.loc[1].equals(night.loc[1])


def test_the_sample_store_balance_withholds_what_its_reads_say(city, sample_store):
    """End to end on the shared 21-day build: each DMA's verdict against the rules applied by
    hand to the store's own reads (a groupby of the water reads, not the library's path)."""
    from twin.loss_review import period_utc
    from twin.water.balance import balance_from_store

    a, b = period_utc(city, pd.Timestamp("2016-07-04").date(), 21)
    full = balance_from_store(sample_store, city, a, b)
    reads = sample_store.read("water_read", start=pd.Timestamp(full.attrs["start"]),
                              end=pd.Timestamp(full.attrs["end"]))
    use = reads.groupby(reads.series_id.astype(str)).value.sum()
    reg = city.customers.assign(meter=city.customers.water_meter_id.astype(str))
    reg = reg[reg.meter.isin(use.index)].assign(
        use=lambda r: r.meter.map(use), zone=lambda r: r.junction.astype(str).map(city.dmas))
    out, notes = publishable_balance(full, city.customers, city.dmas, use)
    for zone in ("DMA-1", "DMA-2", "DMA-3"):
        r = reg[reg.zone == zone]
        shops = r[r.customer_class != "residential"].use
        breaks = ((r.customer_class == "residential").sum() < 100 or len(shops) < 15
                  or shops.max() > 0.15 * shops.sum())
        assert out.loc[zone, "withheld"] == breaks, zone
        assert np.isnan(out.loc[zone, "nrw_percent"]) == breaks
        assert out.loc[zone, "siv_m3"] == full.loc[zone, "siv_m3"]
    assert all(f"{full.loc[z, 'billed_metered_m3']:,.0f}" not in " ".join(notes)
               for z in full.index)
