"""The dashboard as a utility engineer gets it: a real ``panel serve`` driven from Chromium.

The figures on the page are checked against :func:`twin.scenario.snapshot` computed here, in
the test process, so the page must show what the library says. A screenshot of the page is
saved to ``test-artifacts/dashboard.png`` and the server's log to
``test-artifacts/dashboard-server.log``.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from twin.city import load_city
from twin.scenario import snapshot

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AT = "2016-07-14 18:00"  # the dashboard's default time: a summer evening, pumps off
NIGHT = ("2016-01-14", "03:00")  # a January night: pumps running
#: Generous on purpose: the first session of a fresh server imports the twin and loads the
#: city (and, on a machine without cached profiles, builds them).
FIRST_SOLVE_MS = 60_000
SOLVE_MS = 30_000

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


def _panel_executable() -> str:
    exe = Path(sys.executable).with_name("panel")
    return str(exe if exe.exists() else ROOT / ".venv" / "bin" / "panel")


@pytest.fixture(scope="module")
def dashboard_url():
    """Start ``panel serve apps/dashboard.py`` on a free port; stop it afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log_path = ARTIFACTS / "dashboard-server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [_panel_executable(), "serve", "apps/dashboard.py", "--port", str(port),
         "--address", "127.0.0.1", f"--allow-websocket-origin=127.0.0.1:{port}", "--liveness"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"panel serve exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"panel serve not live after 30 s:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/dashboard"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="module")
def expected():
    """What the library says, computed in this process."""
    city = load_city()
    return {"city": city, "at": snapshot(city, AT), "night": snapshot(city, " ".join(NIGHT))}


def _card(page, key: str):
    """The text of one summary card, e.g. ``'Min voltage\\n1.025 p.u.'``."""
    return page.locator(f".summary-{key} div").first


def _shown_at(page):
    return page.locator(".snapshot-time .at-local")


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


def test_map_and_figures_show_the_library_snapshot(dashboard_url, page, expected):
    from playwright.sync_api import expect

    page.goto(dashboard_url)
    expect(_shown_at(page)).to_have_text("Thu 14 Jul 2016, 18:00 EDT", timeout=FIRST_SOLVE_MS)
    _check_cards(page, expected["at"])

    # the map: a bokeh canvas of a reasonable size inside the map pane, with every layer's
    # data delivered to the browser and something drawn on it
    canvases = page.locator(".citytwin-map canvas")
    expect(canvases.first).to_be_attached()
    sizes = [canvases.nth(i).bounding_box() for i in range(canvases.count())]
    biggest = max((b for b in sizes if b), key=lambda b: b["width"] * b["height"])
    assert biggest["width"] > 500 and biggest["height"] > 400, biggest
    city = expected["city"]
    rows = "name => Bokeh.documents[0].get_model_by_name(name).data.name.length"
    page.wait_for_function(
        f"() => Bokeh.documents[0].get_model_by_name('junctions').data.name.length"
        f" == {city.wn.num_junctions}", timeout=SOLVE_MS)
    drawn_lines = page.evaluate(rows, "mv-lines") + page.evaluate(rows, "mv-lines-open")
    assert drawn_lines == len(city.net.line)
    assert page.evaluate(rows, "mv-buses") == len(city.net.bus)
    assert page.evaluate(rows, "pipes") == city.wn.num_pipes + city.wn.num_valves
    assert page.evaluate(rows, "pumps") == city.wn.num_pumps

    violations = expected["at"].violations
    if violations.empty:
        expect(page.locator(".no-violations")).to_be_visible()
    else:
        expect(page.locator(".violations-table")).to_be_visible()

    page.wait_for_timeout(300)  # let the canvas paint before the picture
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_picking_a_january_night_updates_the_figures(dashboard_url, page, expected):
    from playwright.sync_api import expect

    night = expected["night"]
    assert night.summary["pump_kw"] != pytest.approx(expected["at"].summary["pump_kw"], abs=0.1)
    page.goto(dashboard_url)
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
    page.screenshot(path=str(ARTIFACTS / "dashboard-january-night.png"), full_page=True)


def test_a_time_outside_the_year_is_explained(dashboard_url, page):
    from playwright.sync_api import expect

    page.goto(dashboard_url + "?at=2017-03-01 12:00")
    message = page.locator(".time-error div").first
    expect(message).to_contain_text("outside the city's year", timeout=FIRST_SOLVE_MS)
    expect(message).to_contain_text("2016-01-01 00:00 to 2016-12-31 23:45")
