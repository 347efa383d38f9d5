"""Non-technical losses as they may be shown: pseudonymous meters, feeder sums within the rules.

What the dashboard and any export show of :func:`twin.electric.losses.non_technical_losses`:
the suspicious meters under keyed pseudonyms (:func:`twin.ingest.privacy.pseudonymise`), and the
feeder balance with the customer energy sums withheld for a feeder whose read customers break
the aggregation rules (:func:`twin.ingest.privacy.group_violations`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.ingest.privacy import PrivacyRules, group_violations, pseudonymise

#: Feeder balance columns that reveal the sum of customers' readings (withheld when a rule
#: breaks: the NTL is the head energy less that sum).
CUSTOMER_SUMS = ("metered_mwh", "estimated_mwh", "ntl_mwh", "ntl_percent")
SUSPICIOUS_COLUMNS = ["rank", "meter", "feeder", "score", "reason", "change_day",
                      "missing_kwh"]


def suspicious_meters(scores: pd.DataFrame, key: str | bytes | None = None) -> pd.DataFrame:
    """The flagged meters, best first, under pseudonyms.

    Parameters
    ----------
    scores : DataFrame
        :func:`twin.electric.meter_anomaly.score_meters` (``meter_id``, ``flagged``, ...).
    key : str or bytes, optional
        Pseudonym key; default ``$TWIN_PSEUDONYM_KEY``.

    Returns
    -------
    DataFrame
        ``rank``, ``meter`` (``PM-`` pseudonym), ``feeder``, ``score`` [-], ``reason``,
        ``change_day``, ``missing_kwh`` [kWh]; no meter id, load or customer.

    Raises
    ------
    twin.ingest.privacy.PrivacyError
        Without a pseudonym key.
    """
    flagged = scores[scores["flagged"].astype(bool)].sort_values("rank")
    out = flagged.assign(meter=pseudonymise(flagged["meter_id"].astype(str), key))
    return out[SUSPICIOUS_COLUMNS].reset_index(drop=True)


def meter_energy_kwh(meter_ids, kwh: np.ndarray) -> pd.Series:
    """Energy of each meter over the period [kWh] from a time × meter array (NaN as 0)."""
    return pd.Series(np.nansum(kwh, axis=0), index=pd.Index(meter_ids, name="meter_id"))


def publishable_feeder_balance(balance: pd.DataFrame, customers: pd.DataFrame,
                               energy_kwh: pd.Series,
                               rules: PrivacyRules | None = None
                               ) -> tuple[pd.DataFrame, list[str]]:
    """The feeder balance with customer sums withheld where a feeder's customers break a rule.

    Parameters
    ----------
    balance : DataFrame
        :func:`twin.electric.losses.feeder_balance`, indexed by feeder.
    customers : DataFrame
        Register with ``electric_meter_id``, ``customer_class`` and ``feeder``.
    energy_kwh : Series
        Energy of every read meter over the period [kWh] (:func:`meter_energy_kwh`).
    rules : PrivacyRules, optional
        Default the California/Illinois thresholds of :class:`PrivacyRules`.

    Returns
    -------
    (DataFrame, list of str)
        The balance, with :data:`CUSTOMER_SUMS` set to NaN for feeders that break a rule, and
        one note per broken rule.
    """
    rules = rules or PrivacyRules()
    read = customers[customers.electric_meter_id.astype(str).isin(energy_kwh.index)]
    out, notes = balance.copy(), []
    for feeder in out.index:
        part = read[read.feeder == feeder]
        if part.empty:
            continue
        broken = group_violations(feeder, part.customer_class.astype(str),
                                  energy_kwh.reindex(part.electric_meter_id.astype(str)), rules)
        if broken:
            out.loc[feeder, list(CUSTOMER_SUMS)] = np.nan
            notes += [f"{v}; its customer sums are withheld" for v in broken]
    return out, notes
