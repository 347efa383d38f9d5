"""Forecasts as they may be shown: a series made from customers' readings only within the rules.

A look-ahead forecasts every load point (the sum of its customers' meters), every rooftop PV
unit (its customer's inverter) and every DMA (its customers' water meters). A forecast is not a
reading, but it is made from them and follows them: the 48-hour forecast of one house's load or
one roof's output draws that household's day. So a forecast series is shown only where the
readings it is made from would be: its metered customers pass the aggregation rules
(:func:`twin.ingest.privacy.group_violations`, their energy or volume over the history the
forecast was fitted on). A series fed only by the city's model profiles (a load or roof
without meters) holds no reading and is shown. The look-ahead shows no total beside these
series (no feeder or city forecast), so no withheld series can be had by subtraction.
"""

from __future__ import annotations

import pandas as pd

from forecasts.data import INVERTER_PREFIX, HierarchicalSeries
from twin.ingest.privacy import PrivacyRules, group_violations

#: Register column naming each hierarchy's metered bottom series (after ``<level>:``).
BOTTOM_ID = {"electric": "electric_meter_id", "pv": "customer_id", "water": "water_meter_id"}
#: Level forecast and shown, and the dataset of :class:`forecasts.lookahead.LookaheadForecasts`.
SHOWN_LEVEL = {"electric": ("load", "loads"), "pv": ("sgen", "pv"), "water": ("dma", "water")}


def metered_customers(hs: HierarchicalSeries, customers: pd.DataFrame) -> pd.DataFrame:
    """The customers whose readings a hierarchy is made of, with their parents and use.

    Parameters
    ----------
    hs : HierarchicalSeries
        ``electric``, ``pv`` or ``water`` (:mod:`forecasts.data`).
    customers : DataFrame
        Register: ``customer_class`` and the id column of :data:`BOTTOM_ID`.

    Returns
    -------
    DataFrame
        Per metered bottom series (``source`` ``store:…``): ``customer_class``, its node of
        every level above (columns of ``hs.hierarchy.parents``) and ``use``, the sum of its
        history [``hs.unit``] (NaN as 0).
    """
    stored = hs.source.index[hs.source.astype(str).str.startswith("store:")]
    ids = pd.Series(stored.str.split(":", n=1).str[1], index=stored)
    if hs.name == "pv":
        ids = ids.str.removeprefix(INVERTER_PREFIX)
    klass = pd.Series(customers.customer_class.astype(str).to_numpy(),
                      index=customers[BOTTOM_ID[hs.name]].astype(str))
    klass = klass[~klass.index.duplicated()]
    out = hs.hierarchy.parents.loc[stored].copy()
    out["customer_class"] = klass.reindex(ids.to_numpy()).to_numpy()
    out["use"] = hs.bottom[stored].sum(min_count=1).fillna(0.0).to_numpy(float)
    return out


def publishable_series(hs: HierarchicalSeries, customers: pd.DataFrame, level: str,
                       rules: PrivacyRules | None = None) -> tuple[list[str], dict[str, list]]:
    """The nodes of one level whose series may be shown, and the rules the others break.

    Parameters
    ----------
    hs : HierarchicalSeries
    customers : DataFrame
        As for :func:`metered_customers`.
    level : str
        A level of ``hs`` above the bottom (``load``, ``sgen``, ``dma``, ``feeder``).
    rules : PrivacyRules, optional
        Default the California/Illinois thresholds.

    Returns
    -------
    (list of str, dict of str to list of Violation)
        The nodes shown (in ``hs.hierarchy.nodes()`` order) and the withheld ones with their
        violations. A metered customer missing from the register has no class the rules
        could be applied to: its node is withheld.
    """
    rules = rules or PrivacyRules()
    who = metered_customers(hs, customers)
    withheld = {}
    for node, part in who.groupby(level, sort=False):
        if part.customer_class.isna().any():
            withheld[str(node)] = [f"{int(part.customer_class.isna().sum())} of its meters "
                                   "are not in the customer register"]
            continue
        broken = group_violations(str(node), part.customer_class, part.use, rules)
        if broken:
            withheld[str(node)] = broken
    nodes = hs.hierarchy.nodes()
    return [str(n) for n in nodes.index[nodes == level] if str(n) not in withheld], withheld


def publishable_forecasts(fc, customers: pd.DataFrame, rules: PrivacyRules | None = None
                          ) -> tuple[dict[str, list[str]], list[str]]:
    """The look-ahead's forecast series that may be shown, per dataset, and what is withheld.

    Parameters
    ----------
    fc : forecasts.lookahead.LookaheadForecasts
    customers : DataFrame
        The register (``city.customers``).
    rules : PrivacyRules, optional

    Returns
    -------
    (dict of str to list of str, list of str)
        ``{"loads": [...], "pv": [...], "water": [...]}``: the series ids of each dataset
        that may be shown (dataset order); and one note per dataset with series withheld.
    """
    shown, notes = {}, []
    for name, (level, attr) in SHOWN_LEVEL.items():
        hs = getattr(fc, {"electric": "electric", "pv": "pv_series",
                          "water": "water_series"}[name])
        ok, withheld = publishable_series(hs, customers, level, rules)
        ok = set(ok)
        ids = [str(s) for s in getattr(fc, attr)["series"].to_numpy()]
        shown[attr] = [s for s in ids if s in ok]
        hidden = [s for s in ids if s in withheld]
        if hidden:
            rules_broken = sorted({getattr(v, "rule", "register") for s in hidden
                                   for v in withheld[s]})
            notes.append(f"{len(hidden)} of {len(ids)} {attr} forecasts are withheld: they are "
                         f"made from the readings of customers who break the aggregation rules "
                         f"({', '.join(rules_broken)}), e.g. {hidden[0]}")
    return shown, notes
