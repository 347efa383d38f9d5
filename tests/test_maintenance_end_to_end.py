"""The maintenance chain on the sample city: a simulated year, the generator's work orders,
the assessment, the plan and the PDF (text read back with pypdf, two builds byte-identical),
and the CLI's answers to bad input."""

from __future__ import annotations

import filecmp
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from twin.maintenance import (
    RANKING_COLUMNS,
    assess,
    plan,
    risk_matrix,
    write_report,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def observed(city):
    from twin.maintenance.observations import observe

    return observe(city)


@pytest.fixture(scope="module")
def failures(city, observed, tmp_path_factory):
    from twin.synthetic.failures import build_failures

    folder = tmp_path_factory.mktemp("failures")
    counts = build_failures(city, folder, seed=14, observations=observed)
    return folder, counts


@pytest.fixture(scope="module")
def assessment(city, observed, failures, tmp_path_factory):
    folder, _ = failures
    # the models see the work orders only: the truth is not even on disk beside them
    work = tmp_path_factory.mktemp("cmms")
    shutil.copy(folder / "work_orders.csv", work / "work_orders.csv")
    return assess(city, history=work / "work_orders.csv", observations=observed)


def test_generator_is_deterministic_and_keeps_truth_apart(city, observed, failures, tmp_path):
    from twin.synthetic.failures import build_failures

    folder, counts = failures
    again = build_failures(city, tmp_path / "a", seed=14, observations=observed)
    assert again == counts
    assert filecmp.cmp(folder / "work_orders.csv", tmp_path / "a" / "work_orders.csv",
                       shallow=False)
    other = build_failures(city, tmp_path / "b", seed=15, observations=observed)
    assert other["history_failures"] != counts["history_failures"]
    wo = pd.read_csv(folder / "work_orders.csv")
    assert "rate_per_year" not in wo.columns and "frailty" not in wo.columns
    assert set(wo.work_type) == {"CM", "PM"}
    assert counts["by_class"]["pipe"] > 100 and counts["future_failures"] > 10


def test_ranking_is_complete_and_consistent(city, assessment):
    r = assessment.ranking
    assert list(r.columns[:len(RANKING_COLUMNS)]) == RANKING_COLUMNS
    assert len(r) == len(city.assets) and r.asset_id.is_unique  # nothing dropped
    assert (r.risk_money_per_year.diff().dropna() <= 1e-9).all()
    assert np.allclose(r.risk_money_per_year, r.pof_per_year * r.cof_money)
    assert r.health_index.between(0.5, 10).all()
    # five years of risk at least today's, discounted at 3.5 % (assets only age)
    annuity = sum(1.035 ** -t for t in range(1, 6))
    assert (r.pv_future_risk_money >= annuity * r.risk_money_per_year * (1 - 1e-9)).all()
    assert set(r.action) <= {"replace", "refurbish", "inspect", "monitor"}
    # assets installed after the assessment year are flagged, not dropped
    late = city.assets.install_year > assessment.as_of_year
    assert (r.set_index("asset_id").loc[city.assets.asset_id[late], "flag"] != "").all()
    # consequences come from the networks: a distribution transformer cuts its own customers
    dt = r[r.asset_class == "distribution_transformer"].iloc[0]
    load = int(dt.element)
    assert dt.customers_cut == (city.customers["load"] == load).sum()
    pipes = r[r.asset_class == "pipe"]
    assert (pipes.customers_low_pressure > 0).any()  # EPANET PDA: some pipe outages bite
    assert assessment.break_model_reason.split()[0] in ("cox", "weibull_aft")
    # the 5x4 matrix holds every asset and all the risk
    m, risk = risk_matrix(r), risk_matrix(r, "risk")
    assert m.shape == (5, 4) and m.to_numpy().sum() == len(r)
    assert all(pd.api.types.is_integer_dtype(t) for t in m.dtypes)  # counts shown whole
    assert risk.to_numpy().sum() == pytest.approx(r.risk_money_per_year.sum())


def test_ranking_beats_age_on_the_held_out_year(city, assessment, failures):
    from twin.maintenance.pipes import concordance

    folder, _ = failures
    future = pd.read_csv(folder / "truth" / "work_orders_future.csv")
    r = assessment.ranking
    obs = future.asset_id.value_counts().reindex(r.asset_id, fill_value=0).to_numpy()
    live = r.age_years.to_numpy() > 0
    c_model = concordance(r.pof_per_year.to_numpy()[live], obs[live])
    c_age = concordance(r.age_years.to_numpy()[live], obs[live])
    assert c_model >= 0.75 and c_model > c_age


def test_plan_within_budget(assessment):
    p = plan(assessment.ranking, 5e5, 1)
    assert p.spent <= 5e5 and p.risk_after < p.risk_before and p.optimal


def test_report_text_and_determinism(assessment, tmp_path):
    from pypdf import PdfReader

    a = write_report(assessment, tmp_path / "a.pdf", budget=1e6, top=3)
    b = write_report(assessment, tmp_path / "b.pdf", budget=1e6, top=3)
    assert filecmp.cmp(a, b, shallow=False)
    pages = PdfReader(str(a)).pages
    text = "\n".join(p.extract_text() for p in pages)
    assert "Money at risk" in text and "Risk matrix" in text and "Programme" in text
    top = assessment.ranking.head(3)
    for x in top.itertuples():
        assert f"#{x.rank} {x.asset_id}" in text
    assert len(pages) == 5 + 3 + 1 or len(pages) >= 8
    # privacy: no customer id or meter id appears, counts only
    customers = assessment.city.customers
    for ident in list(customers.customer_id.head(50)) + list(customers.electric_meter_id.head(50)):
        assert ident not in text


def test_cli_bad_input_is_one_line(tmp_path, city):
    from twin.cli import app

    runner = CliRunner()

    def said(res) -> str:  # rich wraps long lines; compare the words
        return " ".join(res.output.split())
    res = runner.invoke(app, ["maintenance", "plan", "--budget", "0"])
    assert res.exit_code == 2 and "budget must be a positive" in said(res)
    res = runner.invoke(app, ["maintenance", "rank", "--history", str(tmp_path / "no.csv")])
    assert res.exit_code == 2 and "no work-order history" in said(res)
    assert "Traceback" not in res.output
    empty = tmp_path / "empty.csv"
    empty.write_text("work_order,asset_id,work_type,reported_local\n")
    res = runner.invoke(app, ["maintenance", "rank", "--history", str(empty)])
    assert res.exit_code == 2 and "empty" in said(res)
    # a city whose register repeats an id
    folder = tmp_path / "city"
    shutil.copytree(city_folder(), folder)
    assets = pd.read_csv(folder / "assets.csv", dtype=str)
    assets.loc[4, "asset_id"] = assets.loc[3, "asset_id"]
    assets.to_csv(folder / "assets.csv", index=False)
    res = runner.invoke(app, ["maintenance", "rank", "--city", str(folder), "--history",
                              str(empty)])
    assert res.exit_code == 2 and "asset_id" in said(res) and "Traceback" not in res.output


def city_folder():
    from twin import config

    return config.city_dir()


def test_store_gives_failing_meters_and_pump_efficiency(city, observed, assessment, failures,
                                                        sample_store, sample_raw):
    from twin.maintenance.assess import CONSEQUENCE_COLUMNS

    folder, _ = failures
    cof = assessment.ranking[["asset_id", "cof_money", *CONSEQUENCE_COLUMNS]]
    a = assess(city, history=folder / "work_orders.csv", observations=observed,
               store=sample_store, consequences=cof)
    # the generator's stuck and zero-reading meters are on the failing-meter list
    truth = pd.read_csv(sample_raw / "truth" / "faults.csv", dtype={"series_id": str})
    faulty = set(truth.loc[truth.kind.isin(["stuck", "zeros"]), "series_id"])
    failing = set(a.meters.index[a.meters.failing])
    assert faulty and faulty <= failing
    # wire-to-water efficiency from SCADA power and flow: the generator drew pump power at
    # the pumps' declared efficiency
    eff = a.pump_efficiency
    assert len(eff) >= 1
    for pump, row in eff.iterrows():
        declared = city.pumps.set_index(city.pumps.pump.astype(str)).efficiency[pump]
        assert row.mean_efficiency == pytest.approx(declared, rel=0.05)
