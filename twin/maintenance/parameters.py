"""Parameters of the maintenance models, declared once as data with their source.

Per asset class (``asset_classes.csv`` next to this module): the model that gives its
probability of failure (``cnaim`` or the pipes' ``break_model``), the CNAIM normal expected
life [a], K [% per year] and C [-], the duty-factor table, and the money and time of each
action: ``repair_cost``, ``refurbish_cost``, ``replace_cost`` (+ ``replace_cost_per_km`` for
linear assets) and ``inspect_cost`` [money], ``repair_hours`` (a failure's outage until
repaired) and ``restore_hours`` (until switching restores what can be restored) [h].
Pipe materials' normal expected lives are in ``pipe_materials.csv``. Every row names its
source; house values are marked as such.

CNAIM: DNO Common Network Asset Indices Methodology v2.1 (Ofgem, 2021), as implemented by the
R package Utiligize/CNAIM (the reference implementation).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

_HERE = Path(__file__).parent

#: Health score of a new asset and the cap of the initial health score [-] (CNAIM 6.1.5).
H_NEW, H_INITIAL_CAP = 0.5, 5.5
#: Bounds of the current health score [-] (CNAIM 6.1.7, "page 25 and the example on p. 219").
H_MIN, H_MAX = 0.5, 10.0
#: Bounds of the future health score used in future PoF [-] (CNAIM R package,
#: ``pof_future_*``: the score is held within 4 .. 15 in the PoF curve).
H_FUTURE_MIN, H_FUTURE_MAX = 4.0, 15.0
#: C of the PoF curve [-] (CNAIM v2.1, Table 3: 1.087 for every category).
C_VALUE = 1.087

#: Health-index bands: (band, lower, upper) of the current health score [-] (CNAIM v2.1 6.1.10).
HEALTH_BANDS = (("HI1", 0.5, 3.0), ("HI2", 3.0, 5.5), ("HI3", 5.5, 6.5), ("HI4", 6.5, 8.0),
                ("HI5", 8.0, 15.0))
#: Criticality bands by the consequence of failure relative to the class's reference (median)
#: consequence [-] (CNAIM v2.1 7.1, Table 4: Low < 75 %, Average 75-125 %, High 125-200 %,
#: Very High > 200 %).
CRITICALITY_BANDS = (("C1", 0.0, 0.75), ("C2", 0.75, 1.25), ("C3", 1.25, 2.0),
                     ("C4", 2.0, float("inf")))

#: Duty factor of distribution transformers by maximum utilisation [% of rating]: rows
#: (upper bound, factor) (CNAIM v2.1 Table 17: <= 50 % 0.9, 50-70 % 0.95, 70-100 % 1.0,
#: > 100 % 1.4).
DUTY_DISTRIBUTION_TRANSFORMER = ((50.0, 0.9), (70.0, 0.95), (100.0, 1.0), (float("inf"), 1.4))
#: Duty factor 1 of HV cables by maximum utilisation [%]: the 70-100 % band's 1.0 is
#: CNAIM's (the R package's 10 kV PEX case at 80 %); the other bands are taken as the
#: distribution transformers' (house assumption: the cable table was not to hand).
DUTY_CABLE_UTILISATION = DUTY_DISTRIBUTION_TRANSFORMER
#: Duty factor 2 of cables by operating/design voltage [%]: (upper, factor). CNAIM R package:
#: 60 % gives 0.9 (its future-PoF reference case), the default row 1.0. A value not known
#: (NaN) takes 1.0 in every duty table.
DUTY_CABLE_VOLTAGE = ((75.0, 0.9), (float("inf"), 1.0))

#: Money of a consequence (house values, in the register's currency):
#: value of energy not supplied [money/kWh], cost per customer interruption [money],
#: multiplier for a critical customer (hospital, care home ...) [-], cost per customer-hour
#: below service pressure [money/h].
VALUE_OF_LOST_LOAD_PER_KWH = 12.0
COST_PER_CUSTOMER_INTERRUPTION = 25.0
CRITICAL_CUSTOMER_WEIGHT = 20.0
COST_PER_CUSTOMER_HOUR_LOW_PRESSURE = 4.0

#: Discount rate of the present value of future risk [-/a] (CNAIM R package example: 3.5 %).
DISCOUNT_RATE = 0.035

#: What an action does: the health score after it (replace: a new asset), or the factor the
#: current health is multiplied by (refurbish), as house values.
REFURBISH_HEALTH_FACTOR = 0.6
#: PoF above which an asset is not left to 'monitor' but inspected at least [1/a].
INSPECT_POF = 0.02


@functools.cache
def asset_classes() -> pd.DataFrame:
    """Per-class parameters (``asset_classes.csv``), indexed by ``asset_class``."""
    return pd.read_csv(_HERE / "asset_classes.csv").set_index("asset_class")


@functools.cache
def pipe_materials() -> pd.DataFrame:
    """Normal expected life of each pipe material [a] (``pipe_materials.csv``)."""
    return pd.read_csv(_HERE / "pipe_materials.csv").set_index("material")
