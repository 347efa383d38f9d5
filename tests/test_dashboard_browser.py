"""The dashboard as a utility engineer gets it: `twin serve` behind a login, driven from Chromium.

Every figure checked on a page is computed here, in the test process, by the same library call
(:func:`twin.scenario.snapshot`, :func:`twin.timeline.base_timeline`,
:func:`twin.scenario.run_scenario`, :func:`twin.loss_review.losses_of_period`,
:func:`twin.scenario.lookahead`), so the page must show what the library says. The server reads
the shared 21-day sample store (``sample_store``). Screenshots of every page go to
``test-artifacts/dashboard-*.png``, the server's log to ``test-artifacts/dashboard-server.log``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest
import yaml

from twin import users
from twin.scenario import profiles_of, run_scenario, snapshot

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AT = "2016-07-14 18:00"  # the dashboard's default time: a summer evening, pumps off
NIGHT = ("2016-01-14", "03:00")  # a January night: pumps running
USER, PASSWORD = "engineer", "a long test password"
#: Generous on purpose: the first session of a fresh server imports the twin and loads the
#: city (and, on a machine without cached profiles, builds them).
FIRST_SOLVE_MS = 90_000
SOLVE_MS = 60_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} missing: install Debian's chromium (apt-get install "
                              "chromium) to run the browser tests"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def credentials(tmp_path_factory):
    """A credentials file with one user, and its folder's kept secrets."""
    path = tmp_path_factory.mktemp("users") / "users.json"
    users.add_user(USER, PASSWORD, path)
    return path


@pytest.fixture(scope="module")
def work_orders(tmp_path_factory) -> Path:
    """Where the server looks for the work-order history (absent until a test writes it)."""
    return tmp_path_factory.mktemp("maintenance") / "work_orders.csv"


@pytest.fixture(scope="module")
def server(credentials, sample_store, work_orders):
    """``twin serve`` (login on) on a free port over the sample store; stopped afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log_path = ARTIFACTS / "dashboard-server.log"
    log = log_path.open("w")
    env = {**os.environ, users.USERS_FILE_ENV: str(credentials), "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1", "TWIN_WORK_ORDERS": str(work_orders)}
    env.pop("TWIN_PSEUDONYM_KEY", None)  # the server's kept key, read back by the tests
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", "--port", str(port), "--address",
         "127.0.0.1", "--store", sample_store.url],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"twin serve exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"twin serve not live after 60 s:\n{log_path.read_text()}")
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # twin serve and the panel server it started
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _login(page, server, user=USER, password=PASSWORD):
    page.goto(f"{server}/dashboard")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.fixture
def page(browser, server):
    """A logged-in page in a fresh browser context (its own cookies: its own session)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1700})
    page = context.new_page()
    _login(page, server)
    page.wait_for_url(re.compile(r"/dashboard"))
    yield page
    context.close()


def _card(page, key: str):
    return page.locator(f".summary-{key} div").first


def _shown_at(page):
    return page.locator(".snapshot-time .at-local")


def _open_tab(page, title: str):
    page.locator(".bk-tab", has_text=title).click()


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").strip())


def _cell(page, table: str, key: str, row: str, field: str) -> str:
    """The text of one Tabulator cell: the row whose ``key`` column reads ``row``."""
    named = page.locator(f".tabulator-cell[tabulator-field='{key}']",
                         has_text=re.compile(rf"^\s*{re.escape(row)}\s*$"))
    line = page.locator(f".{table} .tabulator-row").filter(has=named)
    return line.first.locator(f".tabulator-cell[tabulator-field='{field}']").inner_text()


#: A real meter or customer id of the register (electric, water, PV inverter, customer).
REAL_ID = re.compile(r"\b(EM|WM)\d{6,}|\bC\d{5}\b|\bINV-")


def _assert_no_real_ids(text: str) -> None:
    """Privacy (issue 17): no page or download names a meter or customer of the register."""
    found = REAL_ID.search(text)
    assert found is None, f"a real id is shown: {found.group(0)!r}"


def _page_text(page) -> str:
    """Every text of the page, into Panel's shadow roots (a host's inner_text() leaves them
    out: it reads '' for a whole Panel page)."""
    return page.evaluate("""() => {
        const out = [];
        const walk = (n) => {
            if (n.shadowRoot) walk(n.shadowRoot);
            for (const c of n.childNodes) {
                if (c.nodeType === Node.TEXT_NODE) out.push(c.textContent); else walk(c);
            }
        };
        walk(document.body);
        return out.join(" ");
    }""")


def _check_cards(page, snap):
    from playwright.sync_api import expect

    s = snap.summary
    expect(_card(page, "vm_min_pu")).to_contain_text(f"{s['vm_min_pu']:.3f} p.u.")
    expect(_card(page, "vm_max_pu")).to_contain_text(f"{s['vm_max_pu']:.3f} p.u.")
    expect(_card(page, "line_loading_max_percent")).to_contain_text(
        f"{s['line_loading_max_percent']:.1f} %")
    expect(_card(page, "grid_import_mw")).to_contain_text(f"{s['grid_import_mw']:.2f} MW")
    expect(_card(page, "pressure_min_m")).to_contain_text(f"{s['pressure_min_m']:.1f} m")
    expect(_card(page, "demand_l_s")).to_contain_text(f"{s['demand_l_s']:.0f} L/s")
    expect(_card(page, "pump_kw")).to_contain_text(f"{s['pump_kw']:.1f} kW")
    expect(_card(page, "violations")).to_contain_text(re.compile(rf"\b{s['violations']}$"))


# ------------------------------------------------------------------------------ login


def test_login_refuses_a_wrong_password_and_admits_the_right_one(browser, server):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        with urllib.request.urlopen(f"{server}/dashboard", timeout=10) as r:  # no cookie
            assert "/login" in r.url
        _login(page, server, USER, "not the password")
        expect(page.locator(".errormessage")).to_contain_text("Invalid username or password")
        assert "/login" in page.url
        _login(page, server, "nobody", PASSWORD)
        expect(page.locator(".errormessage")).to_contain_text("Invalid username or password")
        _login(page, server)
        expect(page.locator(".signed-in")).to_contain_text(f"Signed in as {USER}",
                                                           timeout=FIRST_SOLVE_MS)
    finally:
        context.close()


# ------------------------------------------------------------------------------ Now


def test_the_server_runs_a_worker_a_core_each_keeping_its_sessions(server, browser):
    """``twin serve`` loads the city once and forks one worker a core (apps/serve.py), each a
    panel serve on its own port: most of a worker's resident pages are the loader's, shared;
    the front hands engineers to the workers in turn, and a page stays on its worker (its
    websocket too: the page's numbers appear)."""
    psutil = pytest.importorskip("psutil")
    from playwright.sync_api import expect

    port = int(server.rsplit(":", 1)[1])
    served = {p.pid: p for p in psutil.process_iter(["cmdline"])
              if any(a.endswith("serve.py") for a in p.info["cmdline"] or [])
              and str(port) in (p.info["cmdline"] or [])}  # the workers have the loader's command
    loader = [p for p in served.values() if p.ppid() not in served]
    assert len(loader) == 1, loader
    workers = loader[0].children()
    cores = os.cpu_count() or 1
    assert len(workers) == (cores if cores > 1 else 0)
    for worker in workers:
        memory = worker.memory_full_info()
        # shared pages count in RSS, not in USS (the worker's own): the city is the loader's
        assert memory.uss < 0.6 * memory.rss, (memory.uss, memory.rss)
    seen = set()
    for _ in range(max(2, len(workers))):
        context = browser.new_context(viewport={"width": 1600, "height": 1700})
        page = context.new_page()
        _login(page, server)
        expect(page.locator(".summary-vm_min_pu div").filter(has_text="p.u.").first
               ).to_be_visible(timeout=120_000)
        seen.add(int(re.search(r":(\d+)/", page.url).group(1)))
        context.close()
    assert seen == ({port + 1 + k for k in range(len(workers))} if workers else {port})


def test_now_page_shows_the_library_snapshot_and_series(page, city):
    from playwright.sync_api import expect

    from twin.electric.feeder_series import feeder_names, feeder_series
    from twin.timeline import base_timeline
    from twin.water.zone_series import dma_series

    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _check_cards(page, snapshot(city, AT))
    rows = "name => Bokeh.documents[0].get_model_by_name(name).data.name.length"
    page.wait_for_function(
        f"() => Bokeh.documents[0].get_model_by_name('junctions').data.name.length"
        f" == {city.wn.num_junctions}", timeout=SOLVE_MS)
    assert page.evaluate(rows, "mv-lines") + page.evaluate(rows, "mv-lines-open") == \
        len(city.net.line)
    assert page.evaluate(rows, "pumps") == city.wn.num_pumps

    tl = base_timeline(city, profiles_of(city), AT, 1)
    f = feeder_series(tl.electric, city.net, feeder_names(city.net)[0])
    d = dma_series(tl.water, city.dma_meters, city.dmas, city.demand_junctions, "DMA-1",
                   tl.start_utc)
    expect(page.locator(".series-loading-max")).to_have_text(
        f"{f.loading_max_percent.max():.1f} %", timeout=SOLVE_MS)
    expect(page.locator(".series-vm-min")).to_have_text(f"{f.vm_min_pu.min():.3f}")
    expect(page.locator(".series-pressure-min")).to_have_text(f"{d.pressure_min_m.min():.1f} m")
    expect(page.locator(".series-inflow-max")).to_have_text(f"{d.inflow_l_s.max():.1f} L/s")
    _assert_no_real_ids(_page_text(page))
    page.wait_for_timeout(500)  # let the canvases paint before the picture
    page.screenshot(path=str(ARTIFACTS / "dashboard-now.png"), full_page=True)


def test_picking_a_january_night_updates_the_figures(page, city):
    from playwright.sync_api import expect

    night = snapshot(city, " ".join(NIGHT))
    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    day, clock = NIGHT
    label = time.strftime("%B %-d, %Y", time.strptime(day, "%Y-%m-%d"))  # "January 14, 2016"
    page.locator(".time-date input.form-control").click()
    calendar = page.locator(".flatpickr-calendar.open")
    calendar.locator("select.flatpickr-monthDropdown-months").select_option(str(int(day[5:7]) - 1))
    calendar.locator(f".flatpickr-day[aria-label='{label}']").click()
    page.locator(".time-clock select").select_option(clock)
    expect(_shown_at(page)).to_have_text("Thu 14 Jan 2016, 03:00 EST", timeout=SOLVE_MS)
    _check_cards(page, night)


def test_a_time_outside_the_year_is_explained(page, server):
    from playwright.sync_api import expect

    page.goto(f"{server}/dashboard?at=2017-03-01 12:00")
    message = page.locator(".time-error div").first
    expect(message).to_contain_text("outside the city's year", timeout=FIRST_SOLVE_MS)
    expect(message).to_contain_text("2016-01-01 00:00 to 2016-12-31 23:45")


# ------------------------------------------------------------------------------ What-if


def _set(page, css: str, value) -> None:
    box = page.locator(f".{css} input").first
    box.fill(str(value))
    box.press("Enter")


def test_whatif_runs_and_its_table_equals_the_library(page, city, tmp_path):
    from playwright.sync_api import expect

    from twin.scenario import parse_scenarios
    from twin.whatif import WhatIfKnobs, base_scenario, knobs_scenario

    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "What-if")
    _set(page, "wi-ev", 50)
    page.locator(".wi-outage-kind select").select_option("line")
    _set(page, "wi-outage-element", 5)
    page.locator(".wi-run button").click()
    expect(page.locator(".wi-result-name")).to_have_text("what-if", timeout=SOLVE_MS)

    knobs = WhatIfKnobs(start=date(2016, 7, 14), days=1, ev_share_percent=50.0,
                        outage_kind="line", outage_element="5")
    scenario = knobs_scenario(knobs)
    result = run_scenario(city, scenario)
    base = run_scenario(city, base_scenario(scenario))
    m, b = result.metrics.value, base.metrics.value
    for metric in ("peak_import_mw", "energy_mwh", "line_loading_max_percent",
                   "customers_interrupted", "losses_mwh"):
        assert _number(_cell(page, "wi-metrics", "metric", metric, "scenario")) == pytest.approx(
            m[metric], abs=1e-3), metric
        assert _number(_cell(page, "wi-metrics", "metric", metric, "base")) == pytest.approx(
            b[metric], abs=1e-3), metric
    assert m["customers_interrupted"] > 0  # the outage cuts customers off
    # the customers table agrees with the scenario layer's own count of interrupted customers
    assert _number(_cell(page, "wi-customers", "customer_class", "all", "without_electricity")) == \
        m["customers_interrupted"]
    _assert_no_real_ids(_page_text(page))
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "dashboard-whatif.png"), full_page=True)

    # the downloaded scenario file reproduces the run exactly
    with page.expect_download() as download:
        page.locator(".wi-download").locator("button, a").first.click()
    path = tmp_path / "what-if.yaml"
    download.value.save_as(path)
    again = parse_scenarios(path.read_text(), str(path))[0]
    assert again.hash == scenario.hash
    _assert_no_real_ids(path.read_text())
    assert yaml.safe_load(path.read_text())["changes"][0]["share"] == 0.5


def test_a_second_session_does_not_see_the_first_ones_scenario(browser, server, page):
    from playwright.sync_api import expect

    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "What-if")
    page.locator(".wi-name input").fill("alice-study")
    _set(page, "wi-drought", 30)
    page.locator(".wi-run button").click()
    expect(page.locator(".wi-result-name")).to_have_text("alice-study", timeout=SOLVE_MS)

    other = browser.new_context(viewport={"width": 1600, "height": 1200})
    second = other.new_page()
    try:
        _login(second, server)
        expect(_shown_at(second)).to_have_text("Thu 14 Jul 2016, 18:00 EDT",
                                               timeout=FIRST_SOLVE_MS)
        _open_tab(second, "What-if")
        expect(second.locator(".wi-run button")).to_be_visible(timeout=SOLVE_MS)
        expect(second.locator(".wi-result-name")).to_have_count(0)
        expect(second.locator(".wi-drought input")).to_have_value("0")
        expect(second.locator(".wi-name input")).to_have_value("what-if")
    finally:
        other.close()
    expect(page.locator(".wi-result-name")).to_have_text("alice-study")  # still there


@pytest.mark.parametrize(("knob", "value", "message"), [
    ("wi-ev", 150, "EV share 150 %: give 0 to 100 %"),
    ("wi-drought", -10, "drought restriction -10 %"),
    ("wi-leak", "no-such-junction", "no-such-junction"),
])
def test_whatif_bad_input_is_a_message_not_a_stack_trace(page, knob, value, message):
    from playwright.sync_api import expect

    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "What-if")
    _set(page, knob, value)
    page.locator(".wi-run button").click()
    error = page.locator(".wi-error")
    expect(error).to_contain_text(message, timeout=SOLVE_MS)
    assert "Traceback" not in error.inner_text()
    expect(page.locator(".wi-run button")).to_be_enabled()  # the session lives on


def test_whatif_unknown_element_is_named(page):
    from playwright.sync_api import expect

    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "What-if")
    page.locator(".wi-outage-kind select").select_option("line")
    _set(page, "wi-outage-element", 9999)
    page.locator(".wi-run button").click()
    expect(page.locator(".wi-error")).to_contain_text("9999", timeout=SOLVE_MS)


def test_an_element_clicked_on_the_map_is_the_one_out_of_service(page, city):
    """A click on the pick map selects the element in its layer's source (what Bokeh's tap
    tool does in the browser); the session turns the selection into the outage knobs."""
    from playwright.sync_api import expect

    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "What-if")
    page.locator(".wi-pick-toggle button").click()
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('pick-pipes') !== null",
                           timeout=SOLVE_MS)
    select = "([name, k]) => { Bokeh.documents[0].get_model_by_name(name).selected.indices = [k] }"
    for name, k, kind, element in [("pick-lines", 7, "line", str(city.net.line.index[7])),
                                   ("pick-pipes", 3, "pipe", city.wn.pipe_name_list[3])]:
        page.evaluate(select, [name, k])
        expect(page.locator(".wi-outage-kind select")).to_have_value(kind)
        expect(page.locator(".wi-outage-element input")).to_have_value(element)


# ------------------------------------------------------------------------------ Losses


def test_losses_page_equals_the_library(page, city, sample_store, credentials):
    from playwright.sync_api import expect

    from twin.loss_review import losses_of_period

    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "Losses and leaks")
    expect(page.locator(".loss-start input").first).to_have_value("2016-07-04",
                                                                   timeout=SOLVE_MS)
    page.locator(".loss-run button").click()
    expect(page.locator(".loss-balance .tabulator-row").first).to_be_visible(timeout=SOLVE_MS)

    key = users.kept_secret(credentials.with_name("pseudonym_key"))
    os.environ["TWIN_PSEUDONYM_KEY"] = key
    try:
        r = losses_of_period(city, sample_store, date(2016, 7, 4), 21)
    finally:
        del os.environ["TWIN_PSEUDONYM_KEY"]
    _check_water_privacy(page, city, sample_store, r)
    alarms = page.locator(".loss-alarms .tabulator-row")
    expect(alarms).to_have_count(max(len(r.leaks.alarms), 1))
    shown_ids = page.locator(".loss-suspicious .tabulator-cell[tabulator-field='meter']")
    expect(shown_ids.first).to_have_text(r.suspicious.meter.iloc[0])
    ids = shown_ids.all_inner_texts()
    assert ids and all(i.startswith("PM-") for i in ids)
    content = _page_text(page)
    assert ids[0] in content  # the walk reaches the tables' cells
    _assert_no_real_ids(content)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "dashboard-losses.png"), full_page=True)


def _check_water_privacy(page, city, store, r):
    """The balance shows what the library lets through: system input everywhere, NRW only
    for zones whose read customers pass the aggregation rules; for the others the note, and
    neither their NRW nor their billed use anywhere in the table (the sample store's 400 read
    customers break the rules in every DMA and the city, one hospital dominating)."""
    from twin.water.balance import balance_from_store

    full = balance_from_store(store, city, r.start, r.end)  # what the rules withhold
    table = {t.strip() for t in page.locator(".loss-balance .tabulator-cell").all_inner_texts()}
    notes = page.locator(".loss-balance-notes li").all_inner_texts()
    content = _page_text(page)
    for zone, row in r.balance.iterrows():
        siv = _number(_cell(page, "loss-balance", "zone", zone, "system input [m³]"))
        assert siv == pytest.approx(row["siv_m3"], abs=0.5)
        nrw = _cell(page, "loss-balance", "zone", zone, "NRW [%]").strip()
        if not row["withheld"]:
            assert _number(nrw) == pytest.approx(row["nrw_percent"], abs=0.006)
            continue
        assert nrw == "-"
        for col in ("billed_metered_m3", "nrw_m3"):
            assert f"{full.loc[zone, col]:,.0f}" not in table, (zone, col)  # no such cell
        billed = re.escape(f"{full.loc[zone, 'billed_metered_m3']:,.0f}")
        assert not re.search(rf"(?<![\d,.]){billed}(?![\d,.])", content), zone
    assert r.balance.withheld.any()  # else this check checks nothing
    assert notes == r.water_privacy_notes
    if r.night.nnf_trend_l_s.isna().all():  # no DMA's night-flow trend may be drawn
        assert "Withheld for every DMA" in " ".join(
            page.locator(".loss-night-note p").all_inner_texts())


# ------------------------------------------------------------------------------ Next 48 h


@pytest.mark.slow
def test_lookahead_page_equals_the_library(page, city, sample_store):
    from playwright.sync_api import expect

    from apps.pages.lookahead import MODELS
    from twin.scenario import lookahead

    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "Next 48 hours")
    page.locator(".la-run button").click()
    expect(page.locator(".la-violation-count")).to_be_visible(timeout=2 * SOLVE_MS)
    from distributed import Client, LocalCluster

    with LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        la = lookahead(city, sample_store, None, 48, MODELS[next(iter(MODELS))], client=client)
    expect(page.locator(".la-violation-count")).to_have_text(str(len(la.violations)))
    expect(page.locator(".la-low-count")).to_have_text(str(len(la.low_pressure)))
    expect(page.locator(".la-vm-min")).to_have_text(f"{float(la.electric.vm_pu.min()):.3f}")
    _assert_no_real_ids(_page_text(page))
    from forecasts.publishable import publishable_forecasts

    shown, _ = publishable_forecasts(la.forecasts, city.customers)  # no customer's forecast
    options = page.locator(".la-series select option").all_inner_texts()
    assert options == [f"{k}: {s}" for k in ("water", "loads", "pv") for s in shown[k]]
    assert len(options) < sum(getattr(la.forecasts, k).sizes["series"]
                              for k in ("water", "loads", "pv"))  # some are withheld
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "dashboard-lookahead.png"), full_page=True)


def test_lookahead_bad_issue_time_is_a_message(page):
    from playwright.sync_api import expect

    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "Next 48 hours")
    page.locator(".la-issue input").fill("2016-07-20 04:30")
    page.locator(".la-run button").click()
    expect(page.locator(".la-error")).to_contain_text("not on a whole hour", timeout=SOLVE_MS)


# ------------------------------------------------------------------------------ Maintenance


def test_maintenance_without_a_history_says_what_to_do(page, work_orders):
    from playwright.sync_api import expect

    if work_orders.exists():
        pytest.skip("the history was written by the slow maintenance test")
    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "Maintenance")
    page.locator(".mt-run button").click()
    error = page.locator(".mt-error")
    expect(error).to_contain_text("no work-order history", timeout=SOLVE_MS)
    expect(error).to_contain_text("twin maintenance history")


@pytest.mark.slow
def test_maintenance_page_ranks_every_asset_and_gives_the_report(page, city, work_orders,
                                                                  tmp_path):
    """The server's assessment of a generated history: every asset ranked, the matrix holds
    every asset once, the PDF downloads (the assessment takes a minute or two, so the test
    does not repeat it in this process)."""
    from playwright.sync_api import expect
    from pypdf import PdfReader

    from twin.synthetic.failures import build_failures

    build_failures(city, work_orders.parent)
    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _open_tab(page, "Maintenance")
    page.locator(".mt-run button").click()
    expect(page.locator(".mt-assets")).to_have_text(str(len(city.assets)), timeout=600_000)
    top = page.locator(".mt-top").inner_text()
    assert top in set(city.assets.asset_id)
    first = page.locator(".mt-ranking .tabulator-row").first
    expect(first.locator(".tabulator-cell[tabulator-field='asset_id']")).to_have_text(
        top, timeout=SOLVE_MS)
    bands = [f"C{i}" for i in range(1, 5)]
    shown = sum(_number(t) for band in bands for t in page.locator(
        f".mt-matrix .tabulator-row .tabulator-cell[tabulator-field='{band}']").all_inner_texts())
    assert shown == len(city.assets)
    _assert_no_real_ids(_page_text(page))
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "dashboard-maintenance.png"), full_page=True)
    with page.expect_download(timeout=300_000) as download:
        page.locator(".mt-report").locator("button, a").first.click()
    pdf = tmp_path / "report.pdf"
    download.value.save_as(pdf)
    text = "".join(p.extract_text() or "" for p in PdfReader(pdf).pages)
    assert top in text
    _assert_no_real_ids(text)
