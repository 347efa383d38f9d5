"""Privacy of exported meter data: aggregation rules and pseudonymous meter ids.

Aggregation rules (California and Illinois practice, ``FIELD-NOTES.md``), checked per group
before any aggregate leaves the twin:

- residential: a group holds at least :attr:`PrivacyRules.min_residential` (100) customers;
- non-residential (``commercial``, ``industrial``, ``critical``): at least
  :attr:`PrivacyRules.min_non_residential` (15) customers, and no single customer above
  :attr:`PrivacyRules.max_share` (15 %) of the group's energy.

Mixed groups (our reading of "apply each rule to its class part"): a group is split into its
residential part and its non-residential part; each part that is not empty must pass its own
rule on its own, and the 15 % share is measured against the energy of the non-residential
part (not of the whole group). So 300 houses and 3 shops are refused (3 < 15 non-residential
customers), even though the whole group holds 303 customers: the shops' pattern would show
through the aggregate. This is the stricter reading; a customer at exactly 15 % passes
("above 15 %" is refused), and exactly 100 residential or 15 non-residential customers pass.

Pseudonyms: anything exported carries meter ids replaced by a keyed HMAC-SHA256 of the id
(:func:`pseudonymise`). The key comes from the ``key`` argument or the environment variable
:data:`KEY_ENV`; the same key gives the same pseudonym every time (exports can be joined),
and without the key a pseudonym cannot be turned back into a meter id or recomputed from a
list of candidate ids.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

#: Customer classes (``city.customers.customer_class``) and which rule each falls under.
RESIDENTIAL_CLASSES = frozenset({"residential"})
NON_RESIDENTIAL_CLASSES = frozenset({"commercial", "industrial", "critical"})
#: Environment variable holding the pseudonym key (at least 16 characters).
KEY_ENV = "TWIN_PSEUDONYM_KEY"
#: Prefix of a pseudonymous meter id; 16 hex digits of the HMAC follow (64 bits).
PSEUDONYM_PREFIX = "PM-"
_MIN_KEY_BYTES = 16
_HEX_DIGITS = 16


class PrivacyError(ValueError):
    """An export that would break a privacy rule; the message names the group(s) and rule."""


@dataclass(frozen=True)
class PrivacyRules:
    """The aggregation rules as data.

    Attributes
    ----------
    min_residential : int
        Fewest residential customers in a group (its residential part) [-].
    min_non_residential : int
        Fewest non-residential customers in a group (its non-residential part) [-].
    max_share : float
        Largest share of one non-residential customer in its part's energy [-] (0.15 = 15 %).
    """

    min_residential: int = 100
    min_non_residential: int = 15
    max_share: float = 0.15


@dataclass(frozen=True)
class Violation:
    """One rule a group breaks."""

    group: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"group {self.group!r} breaks the {self.rule} rule: {self.detail}"


def class_part(customer_class: str) -> str:
    """Return ``"residential"`` or ``"non_residential"`` for a customer class.

    Raises
    ------
    PrivacyError
        For a class that is neither (the rules would not know what to apply).
    """
    if customer_class in RESIDENTIAL_CLASSES:
        return "residential"
    if customer_class in NON_RESIDENTIAL_CLASSES:
        return "non_residential"
    raise PrivacyError(
        f"customer class {customer_class!r} is neither residential nor non-residential "
        f"({', '.join(sorted(NON_RESIDENTIAL_CLASSES))}); fix the customer register")


def group_violations(group: str, customer_class: Iterable[str], energy_kwh: Iterable[float],
                     rules: PrivacyRules = PrivacyRules()) -> list[Violation]:
    """Return the rules one group breaks (empty when it may be published).

    Parameters
    ----------
    group : str
        The group's name, for the messages.
    customer_class : iterable of str
        Class of each customer in the group (one entry per customer).
    energy_kwh : iterable of float
        Energy of each customer over the published period [kWh] (NaN counts as 0); any
        additive use works the same way (water volume [m³] for a water aggregate).
    rules : PrivacyRules
        The thresholds.

    Notes
    -----
    The messages name counts of customers but never a use: a share and a total of a group
    that breaks a rule would give away the use the rule withholds.
    """
    classes = np.asarray(list(customer_class), dtype=object)
    energy = np.nan_to_num(np.asarray(list(energy_kwh), dtype=float))
    if len(classes) != len(energy):
        raise ValueError(f"group {group!r}: {len(classes)} classes for {len(energy)} energies")
    parts = np.array([class_part(str(c)) for c in classes], dtype=object)
    out = []
    n_res = int((parts == "residential").sum())
    if 0 < n_res < rules.min_residential:
        out.append(Violation(str(group), "residential minimum",
                             f"{n_res} residential customers, at least "
                             f"{rules.min_residential} needed"))
    nonres = parts == "non_residential"
    n_non = int(nonres.sum())
    if 0 < n_non < rules.min_non_residential:
        out.append(Violation(str(group), "non-residential minimum",
                             f"{n_non} non-residential customers, at least "
                             f"{rules.min_non_residential} needed"))
    if n_non:
        e = energy[nonres]
        total = e.sum()
        share = Fraction(str(rules.max_share)).limit_denominator(10**9)
        # exact for integer energies: e / total > num / den  <=>  e * den > num * total
        above = e * share.denominator > share.numerator * total
        if total > 0 and above.any():
            # neither the share nor the part's total is named: together they are the
            # dominant customer's own use, the very figure the rule protects
            out.append(Violation(str(group), "non-residential 15 % share",
                                 f"one non-residential customer has more than "
                                 f"{rules.max_share:.1%} of the part's use"))
    return out


def privacy_violations(customers: pd.DataFrame, group: str = "group",
                       energy: str = "energy_kwh",
                       rules: PrivacyRules = PrivacyRules()) -> list[Violation]:
    """Return every rule broken by any group of a customer table.

    Parameters
    ----------
    customers : DataFrame
        One row per customer with columns ``customer_class``, ``group`` and ``energy``.
    group, energy : str
        Names of the group column and of the energy column [kWh].
    """
    out = []
    for name, part in customers.groupby(group, sort=True, observed=True):
        out += group_violations(str(name), part["customer_class"].astype(str),
                                part[energy].to_numpy(float), rules)
    return out


def check_publishable(customers: pd.DataFrame, group: str = "group", energy: str = "energy_kwh",
                      rules: PrivacyRules = PrivacyRules()) -> None:
    """Raise :class:`PrivacyError` naming every group and rule broken; return when all pass."""
    bad = privacy_violations(customers, group, energy, rules)
    if bad:
        raise PrivacyError("refusing to publish: " + "; ".join(str(v) for v in bad)
                           + ". Merge small groups or leave them out.")


def withheld_groups(customers: pd.DataFrame, shown: Iterable[str], group: str = "group",
                    energy: str = "energy_kwh", total: str | None = None,
                    rules: PrivacyRules = PrivacyRules()) -> dict[str, list[Violation]]:
    """The published groups whose customer aggregates must be withheld, and why.

    Two checks, as a statistical office suppresses cells of a table with its margin:

    - primary: a group of ``shown`` whose own customers break a rule;
    - complementary: when a ``total`` over every customer of ``customers`` is published
      beside the groups (a city row under its districts), the total less the groups that
      are shown is the sum of all the other customers (those of the withheld groups and
      those in no shown group); if they break a rule together, the total is withheld too,
      else one withheld group could be recovered by subtraction.

    Parameters
    ----------
    customers : DataFrame
        One row per customer whose reads make the aggregates: ``customer_class``, the
        ``group`` column (customers of groups that are not shown belong only to the total)
        and the ``energy`` column [kWh, or m³ for water].
    shown : iterable of str
        The groups published (a group of ``shown`` without customers breaks no rule: its
        aggregate is 0 and tells nothing).
    group, energy : str
        Column names.
    total : str, optional
        Name of the published total over all of ``customers``; None when no total is shown.
    rules : PrivacyRules
        The thresholds.

    Returns
    -------
    dict of str to list of Violation
        Only the groups (and ``total``) to withhold, each with the rules it breaks.
    """
    classes = customers["customer_class"].astype(str)
    keys = customers[group].astype(str)
    out = {}
    for name in dict.fromkeys(str(g) for g in shown):
        at = (keys == name).to_numpy()
        broken = group_violations(name, classes[at], customers.loc[at, energy], rules)
        if broken:
            out[name] = broken
    if total is None:
        return out
    broken = group_violations(total, classes, customers[energy], rules)
    if not broken:
        published = set(dict.fromkeys(str(g) for g in shown)) - set(out)
        rest = (~keys.isin(published)).to_numpy()
        broken = [Violation(total, v.rule, f"less the groups shown, it would give the sum of "
                                           f"the other customers, and {v.detail}")
                  for v in group_violations(total, classes[rest], customers.loc[rest, energy],
                                            rules)]
    if broken:
        out[total] = broken
    return out


def export_aggregate(readings: pd.DataFrame, customers: pd.DataFrame, group_by: str,
                     freq: str | None = "1h", meter_column: str = "electric_meter_id",
                     rules: PrivacyRules = PrivacyRules()) -> pd.DataFrame:
    """Aggregate meter readings by group, refusing any group that breaks the rules.

    Parameters
    ----------
    readings : DataFrame
        Store rows (``series_id`` = meter id, ``time_utc``, ``value`` [kWh per interval],
        ``unit``); failed readings (NaN value) count as 0.
    customers : DataFrame
        The customer register (``city.customers``): ``customer_class``, ``meter_column`` and
        the ``group_by`` column (``feeder``, ``dma``, ``bus``, ...).
    group_by : str
        Column of ``customers`` that defines the groups.
    freq : str or None
        Time step of the published totals (``"1h"``, ``"1D"``); None keeps the reads' times.
    meter_column : str
        Column of ``customers`` holding the meter ids the readings use.

    Returns
    -------
    DataFrame
        ``group, time_utc, value`` (sum over the group's customers) [unit of the readings],
        ``unit``, ``customers`` (contributing customers [-]). No meter id appears.

    Raises
    ------
    PrivacyError
        Naming every group and rule broken, or meters missing from the register; nothing is
        returned then.
    """
    for col in ("customer_class", meter_column, group_by):
        if col not in customers:
            raise PrivacyError(f"customer register lacks column {col!r}")
    register = customers.set_index(customers[meter_column].astype(str))
    meters = readings["series_id"].astype(str)
    unknown = sorted(set(meters.unique()) - set(register.index))
    if unknown:
        raise PrivacyError(f"{len(unknown)} meters are not in the customer register (e.g. "
                           f"{unknown[:3]}); their class is unknown, so no rule can be applied")
    units = readings["unit"].astype(str).unique() if "unit" in readings else []
    if len(units) > 1:
        raise PrivacyError(f"readings mix units {sorted(units)}; export one kind at a time")
    value = readings["value"].fillna(0.0).to_numpy(float)
    per_meter = pd.Series(value).groupby(meters.to_numpy()).sum()
    who = register.loc[per_meter.index, ["customer_class", group_by]].assign(
        energy_kwh=per_meter.to_numpy())
    check_publishable(who, group=group_by, energy="energy_kwh", rules=rules)
    t = pd.DatetimeIndex(readings["time_utc"])
    if freq is not None:
        t = t.floor(freq)
    df = pd.DataFrame({"group": register.loc[meters.to_numpy(), group_by].to_numpy(),
                       "time_utc": t, "value": value, "meter": meters.to_numpy()})
    out = df.groupby(["group", "time_utc"], sort=True).agg(
        value=("value", "sum"), customers=("meter", "nunique")).reset_index()
    out.insert(3, "unit", units[0] if len(units) else "")
    return out


# ------------------------------------------------------------------------ pseudonyms
def pseudonym_key(key: str | bytes | None = None) -> bytes:
    """Return the pseudonym key: ``key`` or the environment variable :data:`KEY_ENV`.

    Raises
    ------
    PrivacyError
        When no key is given or set, or it is shorter than 16 bytes.
    """
    key = os.environ.get(KEY_ENV) if key is None else key
    if not key:
        raise PrivacyError(f"no pseudonym key: set the environment variable {KEY_ENV} "
                           "(a secret of at least 16 characters) or pass key=")
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if len(raw) < _MIN_KEY_BYTES:
        raise PrivacyError(f"pseudonym key has {len(raw)} bytes; use at least {_MIN_KEY_BYTES}")
    return raw


def pseudonymise(ids: Iterable[str], key: str | bytes | None = None) -> np.ndarray:
    """Replace meter ids by keyed pseudonyms ``PM-`` + 16 hex digits of HMAC-SHA256(key, id).

    Parameters
    ----------
    ids : iterable of str
        Meter ids (any repeats get the same pseudonym).
    key : str or bytes, optional
        The secret; default the environment variable :data:`KEY_ENV`.

    Returns
    -------
    ndarray of str
        One pseudonym per id, in order.

    Raises
    ------
    PrivacyError
        Without a key, or if two distinct ids collide (64 bits: practically never).
    """
    k = pseudonym_key(key)
    values = pd.Series(list(ids), dtype=object).astype(str)
    uniq, inv = np.unique(values.to_numpy(dtype=str), return_inverse=True)
    names = np.array([PSEUDONYM_PREFIX + hmac.new(k, u.encode(), hashlib.sha256).hexdigest()
                      [:_HEX_DIGITS] for u in uniq], dtype=object)
    if len(set(names)) != len(names):
        raise PrivacyError("two meter ids share a pseudonym; widen the pseudonym")
    return names[inv.reshape(-1)] if len(values) else np.array([], dtype=object)


def pseudonymise_frame(df: pd.DataFrame, columns: Iterable[str] = ("series_id",),
                       key: str | bytes | None = None) -> pd.DataFrame:
    """Return a copy of ``df`` with the meter id ``columns`` replaced by pseudonyms."""
    out = df.copy()
    for c in columns:
        out[c] = pseudonymise(out[c].astype(str), key)
    return out
