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
