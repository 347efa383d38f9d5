"""Privacy: groups at the edges of the aggregation rules, and keyed pseudonyms."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.ingest.privacy import (
    KEY_ENV,
    PrivacyError,
    check_publishable,
    export_aggregate,
    group_violations,
    pseudonymise,
    pseudonymise_frame,
)

KEY = "a test secret of enough length"


def group(n_res: int = 0, non_res: list[float] | tuple = (), res_kwh: float = 1.0,
          name: str = "G1", klass: str = "commercial") -> pd.DataFrame:
    return pd.DataFrame({
        "group": name,
        "customer_class": ["residential"] * n_res + [klass] * len(non_res),
        "energy_kwh": [res_kwh] * n_res + list(non_res)})


def rules_broken(df: pd.DataFrame) -> list[str]:
    return [v.rule for v in group_violations("G1", df["customer_class"], df["energy_kwh"])]


@pytest.mark.parametrize("n, ok", [(99, False), (100, True), (101, True)])
def test_residential_minimum_at_the_edge(n, ok):
    df = group(n_res=n)
    assert (rules_broken(df) == []) is ok
    if not ok:
        with pytest.raises(PrivacyError, match=r"group 'G1' breaks the residential minimum "
                                               r"rule: 99 residential customers"):
            check_publishable(df)


@pytest.mark.parametrize("n, ok", [(14, False), (15, True)])
def test_non_residential_minimum_at_the_edge(n, ok):
    assert (rules_broken(group(non_res=[10.0] * n)) == []) is ok


def test_one_customer_at_exactly_15_percent_passes_and_just_above_is_refused():
    others = [11.0] * 14 + [16.0]  # 170 kWh
    assert rules_broken(group(non_res=[30.0, *others])) == []  # 30 / 200 = 15 % exactly
    assert rules_broken(group(non_res=[30.001, *others])) == ["non-residential 15 % share"]
    with pytest.raises(PrivacyError, match=r"G1.*15 % share.*15.0%"):
        check_publishable(group(non_res=[30.001, *others]))


def test_mixed_groups_apply_each_rule_to_its_class_part():
    # 300 houses and 3 shops: the shops' part is too small although the group has 303 (and
    # each shop is a third of the shops' energy)
    assert rules_broken(group(n_res=300, non_res=[5.0] * 3)) == [
        "non-residential minimum", "non-residential 15 % share"]
    assert rules_broken(group(n_res=300, non_res=[5.0] * 15)) == []
    # 15 % is of the non-residential part: 20 shops of 5 kWh and one of 20 kWh is 16.7 %
    # of the shops' 120 kWh, though only 5 % of the group with 280 kWh of houses
    assert rules_broken(group(n_res=280, non_res=[5.0] * 20 + [20.0])) == [
        "non-residential 15 % share"]
    assert rules_broken(group(n_res=99, non_res=[5.0] * 20)) == ["residential minimum"]
    for klass in ("industrial", "critical"):
        assert rules_broken(group(n_res=100, non_res=[5.0] * 14, klass=klass)) == [
            "non-residential minimum"]


def test_unknown_class_is_refused():
    with pytest.raises(PrivacyError, match="'farm' is neither residential"):
        rules_broken(group(non_res=[1.0] * 20, klass="farm"))


@settings(max_examples=200, deadline=None)
@given(n_res=st.integers(0, 150),
       non_res=st.lists(st.integers(0, 10_000), max_size=30))
def test_rules_agree_with_exact_integer_arithmetic(n_res, non_res):
    broken = set(rules_broken(group(n_res=n_res, non_res=[float(e) for e in non_res])))
    total = sum(non_res)
    expected = set()
    if 0 < n_res < 100:
        expected.add("residential minimum")
    if 0 < len(non_res) < 15:
        expected.add("non-residential minimum")
    if non_res and total > 0 and 100 * max(non_res) > 15 * total:
        expected.add("non-residential 15 % share")
    assert broken == expected


def test_export_aggregate_on_the_city_register(city):
    customers = city.customers.copy()
    res = customers.index[customers["customer_class"] == "residential"]
    customers["district"] = "north"
    customers.loc[res[:2000], "district"] = "south"  # 2000 houses alone
    customers.loc[customers["customer_class"] != "residential", "district"] = "business"
    customers.loc[res[2000:], "district"] = "business"  # houses and every non-residential
    times = pd.date_range("2016-07-04T04:00Z", periods=8, freq="15min")
    meters = customers["electric_meter_id"].to_numpy()
    readings = pd.DataFrame({"series_id": np.repeat(meters, len(times)),
                             "time_utc": np.tile(times, len(meters)),
                             "value": 0.25, "unit": "kWh"})
    out = export_aggregate(readings, customers, "district", freq="1h")
    assert set(out["group"]) == {"south", "business"} and len(out) == 4
    south = out[out["group"] == "south"]
    np.testing.assert_allclose(south["value"], 2000 * 4 * 0.25)  # 4 quarter-hours of 0.25
    assert (south["customers"] == 2000).all() and (out["unit"] == "kWh").all()
    assert not out.astype(str).apply(lambda c: c.str.startswith("EM")).any().any()

    customers.loc[res[:100], "district"] = "hamlet"  # 100 houses: passes
    assert set(export_aggregate(readings, customers, "district")["group"]) == {
        "hamlet", "south", "business"}
    customers.loc[res[99], "district"] = "business"  # 99 houses: refused
    with pytest.raises(PrivacyError, match="group 'hamlet' breaks the residential minimum"):
        export_aggregate(readings, customers, "district")
    with pytest.raises(PrivacyError, match="not in the customer register"):
        export_aggregate(readings.replace({"series_id": {meters[0]: "EM_UNKNOWN"}}),
                         customers, "district")


def test_pseudonyms_are_keyed_hmac_sha256_and_stable(monkeypatch):
    ids = ["EM10000000", "EM10000001", "EM10000000"]
    p = pseudonymise(ids, key=KEY)
    expected = "PM-" + hmac.new(KEY.encode(), b"EM10000000", hashlib.sha256).hexdigest()[:16]
    assert p[0] == expected and p[2] == p[0] and p[1] != p[0]
    assert list(pseudonymise(ids, key=KEY)) == list(p)  # stable
    assert pseudonymise(ids, key=KEY + "!")[0] != p[0]  # another key, another pseudonym
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(PrivacyError, match=KEY_ENV):
        pseudonymise(ids)
    with pytest.raises(PrivacyError, match="at least 16"):
        pseudonymise(ids, key="short")
    monkeypatch.setenv(KEY_ENV, KEY)
    assert pseudonymise(ids)[0] == expected
    df = pd.DataFrame({"series_id": ids, "value": [1.0, 2.0, 3.0]})
    out = pseudonymise_frame(df)
    assert list(out["series_id"]) == list(p) and list(df["series_id"]) == ids


@settings(max_examples=50, deadline=None)
@given(ids=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=50))
def test_pseudonyms_keep_identity_and_depend_on_the_key(ids):
    p = pseudonymise(ids, key=KEY)
    other = pseudonymise(ids, key=KEY[::-1])
    assert len(set(p)) == len(set(ids))  # one pseudonym per id, none shared
    assert all(a == b for a, b in zip(pseudonymise(ids, key=KEY), p, strict=True))
    for j, k in zip(p, other, strict=True):
        assert j.startswith("PM-") and len(j) == 19 and j != k
