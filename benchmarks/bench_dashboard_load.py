"""Load on the dashboard: concurrent Chromium sessions against a real `twin serve` (panel serve).

Starts ``twin serve`` (login on, a throw-away user) on a free localhost port, warms it with one
session (city, profiles, numba, the day's base run), then opens N sessions at once in Chromium
(one browser context each: own cookies, own Bokeh session). Each session logs in, waits for the
*Now* page's numbers (time to first render), opens *What-if*, sets its own EV share and runs a
one-day what-if (latency until the metric table's scenario appears). Meanwhile a thread polls
``/liveness`` every 100 ms and samples the server's memory (RSS of the panel process and its
children), and the CPU time the server and the browsers spend. After the sessions close the
server gets 20 s to let go of them (its memory is read again 60 s after).

Floors (issue 17): first render < 3 s warm, one-day what-if < 5 s, /liveness < 200 ms
throughout, memory after close within 10 % of before. Anchor printed beside the figures: the
same what-if called directly in this process (``run_scenario`` of base and scenario), i.e. what
the page costs above the library.

Run: PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_dashboard_load.py --sessions 10
The machine is shared: figures include other users' load (the script prints the load average).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin import users  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
USER, PASSWORD = "bench", "bench password 1"
AT_TEXT = "Thu 14 Jul 2016, 18:00 EDT"
FLOORS = {"first_render_s": 3.0, "whatif_s": 5.0, "liveness_ms": 200.0, "memory_rise": 0.10}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_rss_mb(pid: int) -> float:
    """RSS of a process and its children [MiB]."""
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
        return sum(q.memory_info().rss for q in procs if q.is_running()) / 2**20
    except psutil.Error:
        return float("nan")


def tree_cpu_s(pid: int) -> dict[int, float]:
    """CPU time (user + system) of a process and each of its children [s], by pid."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    out = {}
    for q in procs:
        try:
            t = q.cpu_times()
            out[q.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


class Monitor(threading.Thread):
    """Polls /liveness, samples server memory and the CPU time of the browsers (this
    process's children other than the server) until stopped."""

    def __init__(self, url: str, pid: int, period_s: float = 0.1):
        super().__init__(daemon=True)
        self.url, self.pid, self.period_s = url, pid, period_s
        self.liveness_ms: list[float] = []
        self.failures = 0
        self.rss_mb: list[float] = []
        self.browser_cpu_s: dict[int, float] = {}  # last seen, per browser process
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    r.read()
                self.liveness_ms.append((time.perf_counter() - t) * 1000)
            except OSError:
                self.failures += 1
            self.rss_mb.append(server_rss_mb(self.pid))
            server = set(tree_cpu_s(self.pid))
            for pid, cpu in tree_cpu_s(os.getpid()).items():
                if pid != os.getpid() and pid not in server:
                    self.browser_cpu_s[pid] = cpu
            self.halt.wait(self.period_s)


async def session(browser, base: str, ev_percent: int, out: dict) -> None:
    """One engineer: log in, see the numbers, run a one-day what-if."""
    context = await browser.new_context(viewport={"width": 1500, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(300_000)  # a loaded server: measure, do not give up
    try:
        t0 = time.perf_counter()
        await page.goto(f"{base}/dashboard")
        await page.fill("input[name=username]", USER)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(re.compile("/dashboard"))
        await page.locator(".snapshot-time .at-local").filter(
            has_text=AT_TEXT).wait_for(timeout=120_000)
        await page.locator(".summary-vm_min_pu div").filter(
            has_text="p.u.").first.wait_for(timeout=120_000)
        out["first_render_s"] = time.perf_counter() - t0
        await page.locator(".bk-tab", has_text="What-if").click()
        box = page.locator(".wi-ev input").first
        await box.fill(str(ev_percent))
        await box.press("Enter")
        t1 = time.perf_counter()
        await page.locator(".wi-run button").click()
        # the metric table, or the page's error message (a failed run is reported at once)
        table = page.locator(".wi-metrics .tabulator-cell[tabulator-field='scenario']").first
        await table.or_(page.locator(".wi-error").filter(has_text=re.compile(r"\S"))).first.wait_for(timeout=300_000)
        error = await page.locator(".wi-error").inner_text()
        if error.strip():
            out["error"] = error.strip()
        else:
            out["whatif_s"] = time.perf_counter() - t1
    except Exception as exc:  # a session that failed is reported, not hidden
        out["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        await context.close()


async def run_sessions(base: str, n: int) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        outs = [{} for _ in range(n)]
        await asyncio.gather(*(session(browser, base, 10 + (90 * i) // max(n - 1, 1), o)
                               for i, o in enumerate(outs)))
        await browser.close()
    return outs


def library_anchor() -> float:
    """The same one-day what-if (base + scenario) called directly [s], warm."""
    from twin.city import load_city
    from twin.scenario import profiles_of, run_scenario
    from twin.whatif import WhatIfKnobs, base_scenario, knobs_scenario

    city = load_city()
    profiles_of(city)
    scenario = knobs_scenario(WhatIfKnobs(start=date(2016, 7, 14), days=1,
                                          ev_share_percent=50.0))
    run_scenario(city, base_scenario(scenario))  # warm (numba, caches)
    t = time.perf_counter()
    run_scenario(city, scenario)
    return time.perf_counter() - t


def stats(values: list[float]) -> str:
    if not values:
        return "none"
    v = sorted(values)
    return (f"median {v[len(v) // 2]:.2f}, p95 {v[min(len(v) - 1, int(0.95 * len(v)))]:.2f}, "
            f"max {v[-1]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    users.add_user(USER, PASSWORD, tmp / "users.json")
    port = free_port()
    env = {**os.environ, users.USERS_FILE_ENV: str(tmp / "users.json"),
           "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--port", str(port),
                             "--address", "127.0.0.1"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/liveness", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"server not live: {(tmp / 'server.log').read_text()}") from None
                time.sleep(0.3)
        print(f"load average before: {os.getloadavg()}; cores {os.cpu_count()}")
        t = time.perf_counter()
        warm = asyncio.run(run_sessions(base, 1))[0]
        print(f"warm-up session (cold server): first render {warm.get('first_render_s', 0):.1f}"
              f" s, what-if {warm.get('whatif_s', 0):.1f} s, {time.perf_counter() - t:.0f} s "
              f"in all {warm.get('error', '')}")
        time.sleep(10)
        before = server_rss_mb(proc.pid)
        mon = Monitor(f"{base}/liveness", proc.pid)
        mon.start()
        t = time.perf_counter()
        cpu0 = sum(tree_cpu_s(proc.pid).values())
        outs = asyncio.run(run_sessions(base, args.sessions))
        wall = time.perf_counter() - t
        server_cpu = sum(tree_cpu_s(proc.pid).values()) - cpu0
        time.sleep(20)  # sessions closed: let the server drop them
        mon.halt.set()
        mon.join()
        after = server_rss_mb(proc.pid)
        time.sleep(40)  # and later: a slow release or memory kept
        later = server_rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
    anchor = library_anchor()

    first = [o["first_render_s"] for o in outs if "first_render_s" in o]
    whatif = [o["whatif_s"] for o in outs if "whatif_s" in o]
    errors = [o["error"] for o in outs if "error" in o]
    peak = max([before, *mon.rss_mb])
    print(f"\n{args.sessions} concurrent sessions (Chromium, logged in), {wall:.1f} s wall")
    print(f"time to first render [s]: {stats(first)}  (floor {FLOORS['first_render_s']} s warm)")
    print(f"one-day what-if latency [s]: {stats(whatif)}  (floor {FLOORS['whatif_s']} s); "
          f"anchor: the library's run_scenario of one what-if, warm, {anchor:.2f} s")
    print(f"/liveness [ms]: {stats(mon.liveness_ms)} over {len(mon.liveness_ms)} polls, "
          f"{mon.failures} failed  (floor {FLOORS['liveness_ms']:.0f} ms)")
    print(f"server memory [MiB]: before {before:.0f}, peak {peak:.0f}, after close {after:.0f}"
          f" ({(after - before) / before:+.1%}; floor ±{FLOORS['memory_rise']:.0%}); 60 s after "
          f"close {later:.0f} ({(later - before) / before:+.1%})")
    browser_cpu = sum(mon.browser_cpu_s.values())
    print(f"CPU while the sessions ran [s]: server {server_cpu:.1f} "
          f"({server_cpu / args.sessions:.2f} per session), browsers about {browser_cpu:.1f} "
          f"({browser_cpu / args.sessions:.2f} per session; sampled every 0.1 s); "
          f"{wall:.0f} s wall x {os.cpu_count()} cores = {wall * os.cpu_count():.0f} core-s")
    print(f"sessions failed: {len(errors)} {errors[:3]}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
