"""The water balance and night flow as they may be shown: customer aggregates within the rules.

What the dashboard and any export show of :func:`twin.water.balance.balance_from_store` and
:func:`twin.water.night_flow.night_flow_from_store`, with the figures made from customers'
reads withheld for a DMA whose read customers break the aggregation rules
(:func:`twin.ingest.privacy.withheld_groups`: at least 100 residential customers; at least 15
non-residential, none above 15 % of their part's use, here water volume [m³]).

Which figure reveals what (the reasoning of a utility privacy officer)
-----------------------------------------------------------------------
* **System input** (SIV) comes from the DMA's boundary meters and tank levels: network
  measurements, not a customer's meter. It bounds the customers' use from above, and in a DMA
  of one customer it would come close to that customer's use plus leakage; but the same flows
  are on the *Now* page (the DMA's inflow series) and on the SCADA screens of every engineer
  who may log in, and the rules govern customer meter data. Shown.
* **Billed metered** consumption is the sum of the read customers' volumes: the aggregate the
  rules govern. The estimate for connections without reads is that sum scaled by the model's
  demand allocation (weights anyone with the network file can compute), so it gives the sum
  back; withheld with it.
* **NRW** = SIV − billed: with SIV shown, NRW gives the billed sum exactly, and so does NRW
  in %. Rounding or banding would not help: NRW in bands of 10 % of SIV still pins the
  customers' use within 10 % of SIV. Withheld.
* **Apparent losses** (meter under-registration and data handling are shares of billed use),
  **real losses** (SIV − authorised − apparent), **CARL** and the **ILI** (CARL over the UARL,
  which mains, connections and pressure give) are each an affine function of the billed sum
  with known coefficients, so each can be inverted to it. Withheld.
* The **consistent** flag and the balance's findings: the flag says whether billed use exceeds
  a bound set by SIV, and the findings quote the billed volume. Withheld.
* Unbilled authorised and unauthorised consumption (assumed shares of SIV), billed unmetered
  (an assumed volume per connection), the UARL, mains, connections, pressure and whether the
  ILI is indicative hold no customer's use. Shown.
* The **city** row sums the DMAs' customers (not those in the source zone). It is withheld
  when they break a rule, and also when the customers of the withheld DMAs break one
  together (the city less the DMAs shown would give their sum: a withheld DMA recovered by
  subtraction). Customers in no DMA must not pad that check: they are not in the city row.
* A DMA with no read meter is billed wholly on all read customers' use per unit of model
  demand (the source zone's too), so its billed figure gives their sum, and that less the
  city row the sum of the read customers in no DMA: it is shown only when the city row is
  and those customers pass the rules.
* **Net night flow** = minimum night flow (SCADA) − the customers' night use: with the inflow
  shown elsewhere it gives the customers' night use, so it is withheld for the same DMAs
  (judged on the period's volumes; the night use of the same customers is a part of them).

What this does not cover: the rules are checked for each request. Two overlapping periods
that both pass differ by an aggregate of nearly the same customers over the days between
them; the counts still hold there, but the 15 % share is not re-checked for those days.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from twin.ingest.privacy import PrivacyRules, group_violations, withheld_groups
from twin.water.balance import CITY
from twin.water.dma import water_customers

#: Balance columns made from the customers' reads (withheld for a zone that breaks a rule).
CUSTOMER_DERIVED = (
    "billed_metered_m3", "billed_estimated_m3", "authorised_m3",
    "meter_under_registration_m3", "data_handling_m3", "apparent_losses_m3", "real_losses_m3",
    "water_losses_m3", "nrw_m3", "nrw_percent", "real_losses_l_s", "carl_l_conn_day",
    "carl_l_day", "ili")
#: Night-flow columns made from the customers' night reads.
NIGHT_CUSTOMER_DERIVED = ("night_use_l_s", "nnf_l_s", "nnf_trend_l_s", "leakage_m3_day")


def read_customers(customers: pd.DataFrame, zones: pd.Series, read_m3: pd.Series
                   ) -> pd.DataFrame:
    """The water customers whose reads make the billed sums, with their zone and volume.

    Parameters
    ----------
    customers : DataFrame
        Register: ``customer_class``, ``water_meter_id``, ``junction``.
    zones : Series
        Zone of every junction (``city.dmas``).
    read_m3 : Series
        Each read water meter's volume over the period [m³], indexed by meter id
        (:func:`twin.water.balance.metered_volumes_m3`).

    Returns
    -------
    DataFrame
        ``customer_class``, ``zone``, ``use_m3`` [m³]: one row per read customer.
    """
    water = water_customers(customers)
    meter = water.water_meter_id.astype(str)
    volume = pd.Series(read_m3.to_numpy(float), index=read_m3.index.astype(str))
    read = meter.isin(volume.index).to_numpy()
    return pd.DataFrame({
        "customer_class": water.customer_class.astype(str).to_numpy()[read],
        "zone": water.junction.astype(str).map(zones).to_numpy()[read],
        "use_m3": volume.reindex(meter[read]).to_numpy(float)})


def withheld_zones(balance: pd.DataFrame, customers: pd.DataFrame, zones: pd.Series,
                   read_m3: pd.Series, rules: PrivacyRules | None = None) -> dict[str, str]:
    """The zones of a balance whose customer figures must be withheld, with one note per reason.

    Parameters
    ----------
    balance : DataFrame
        A water balance (:func:`twin.water.balance.water_balance`), indexed by zone, maybe
        with the ``city`` row.
    customers, zones, read_m3 :
        As for :func:`read_customers`.
    rules : PrivacyRules, optional
        Default the California/Illinois thresholds.

    Returns
    -------
    dict of str to str
        Zone → a note saying which rules it breaks and what is withheld.
    """
    rules = rules or PrivacyRules()
    who = read_customers(customers, zones, read_m3)
    shown = [str(z) for z in balance.index if str(z) != CITY]
    in_dma = who.zone.isin(shown).to_numpy()  # the city row sums the DMAs' customers only
    broken = withheld_groups(who[in_dma], shown, group="zone", energy="use_m3",
                             total=CITY if CITY in balance.index else None, rules=rules)
    what = ("its billed consumption, NRW, real losses, ILI and net night flow are withheld; "
            "its system input is shown")
    out = {z: f"{z} breaks the " + _and([f"{v.rule} ({v.detail})" for v in vs])
           + f" rule{'s' if len(vs) > 1 else ''}: {what}" for z, vs in broken.items()}
    # a DMA without reads is billed on every read customer's use per unit of model demand
    # (those outside the DMAs too): shown, it gives their sum, and less the city row the sum
    # of the read customers in no DMA; so it is shown only when both may be
    outside = group_violations("outside the DMAs", who.customer_class[~in_dma],
                               who.use_m3[~in_dma], rules)
    if CITY in out or CITY not in balance.index or outside:
        why = ("whose figures are withheld" if CITY in out else
               "whose figures are not shown" if CITY not in balance.index else
               "among them read customers in no DMA who break the " + _and(
                   [f"{v.rule} ({v.detail})" for v in outside]) + " rule")
        read_zones = set(who.zone)
        estimated = balance.get("billed_estimated_m3", pd.Series(0.0, index=balance.index))
        for z in shown:
            if z not in out and z not in read_zones and float(estimated.get(z, 0.0) or 0.0) > 0:
                out[z] = (f"{z} has no read meter, so its billed use is estimated from the "
                          f"city's read customers, {why}: {what}")
    return out


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def publishable_balance(balance: pd.DataFrame, customers: pd.DataFrame, zones: pd.Series,
                        read_m3: pd.Series, rules: PrivacyRules | None = None
                        ) -> tuple[pd.DataFrame, list[str]]:
    """The water balance with the customer figures withheld where a zone breaks a rule.

    Parameters
    ----------
    balance : DataFrame
        :func:`twin.water.balance.balance_from_store` (or :func:`~twin.water.balance.
        water_balance`), indexed by zone.
    customers, zones, read_m3 :
        As for :func:`read_customers`; ``read_m3`` over the balance's own period.
    rules : PrivacyRules, optional
        Default the California/Illinois thresholds.

    Returns
    -------
    (DataFrame, list of str)
        The balance with :data:`CUSTOMER_DERIVED` set to NaN, ``consistent`` to NA (nullable
        boolean) and ``flags`` emptied for withheld zones, a ``withheld`` column [bool], the
        withheld zones' findings dropped from ``attrs["findings"]``; and the notes.
    """
    verdict = withheld_zones(balance, customers, zones, read_m3, rules)
    out = balance.copy()
    hide = out.index.astype(str).isin(list(verdict))
    cols = [c for c in CUSTOMER_DERIVED if c in out]
    out.loc[hide, cols] = np.nan
    if "consistent" in out:
        out["consistent"] = out["consistent"].astype("boolean")
        out.loc[hide, "consistent"] = pd.NA
    if "flags" in out:
        out.loc[hide, "flags"] = ""
    out["withheld"] = hide
    if "findings" in out.attrs:
        out.attrs["findings"] = [f for f in out.attrs["findings"]
                                 if str(f.element) not in verdict]
    return out, [verdict[z] for z in out.index.astype(str) if z in verdict]


def publishable_night_flow(night: pd.DataFrame, withheld: Iterable[str]) -> pd.DataFrame:
    """Night flow with the customer figures (:data:`NIGHT_CUSTOMER_DERIVED`) of the
    ``withheld`` DMAs set to NaN and their findings dropped; MNF (SCADA) is kept."""
    zones = {str(z) for z in withheld}
    out = night.copy()
    hide = out["dma"].astype(str).isin(zones).to_numpy()
    out.loc[hide, [c for c in NIGHT_CUSTOMER_DERIVED if c in out]] = np.nan
    if "flags" in out:
        out.loc[hide, "flags"] = ""
    if "findings" in out.attrs:
        out.attrs["findings"] = [f for f in out.attrs["findings"]
                                 if str(f.element) not in zones]
    return out
