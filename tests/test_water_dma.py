"""DMA figures of customers: an electricity-only customer is no water connection."""

from __future__ import annotations

import pandas as pd
import pytest

from twin.water.dma import connections, dma_table, water_customers


def test_customers_without_junction_are_left_out_of_connections_and_counted(city):
    c = city.customers
    electric_only = c.iloc[:3].assign(junction="", water_meter_id="", dma="")
    both = pd.concat([c, electric_only], ignore_index=True)
    n = connections(both, city.dmas)
    assert n.sum() == len(c)  # the sample city's customers all have a junction
    assert n.attrs["customers_without_junction"] == 3
    assert len(water_customers(both)) == len(c)
    t = dma_table(city.wn, city.dmas, both, city.dma_meters)
    assert t.connections.sum() == len(c)
    with pytest.raises(KeyError, match="NO-SUCH"):
        connections(both.assign(junction=both.junction.where(both.index > 0, "NO-SUCH")),
                    city.dmas)


def test_balance_bills_only_water_connections(city, sample_store):
    """An electricity-only customer in the register: the balance leaves it out and says so."""
    import dataclasses

    from twin.water.balance import balance_from_store

    c = city.customers
    electric_only = c.iloc[:2].assign(customer_id=["E-ONLY-1", "E-ONLY-2"], junction="",
                                      water_meter_id="", dma="")
    both = dataclasses.replace(city, customers=pd.concat([c, electric_only],
                                                         ignore_index=True))
    start, end = pd.Timestamp("2016-07-05", tz="UTC"), pd.Timestamp("2016-07-07", tz="UTC")
    plain = balance_from_store(sample_store, city, start, end)
    t = balance_from_store(sample_store, both, start, end)
    assert t.attrs["customers_without_junction"] == 2
    pd.testing.assert_frame_equal(t, plain)
