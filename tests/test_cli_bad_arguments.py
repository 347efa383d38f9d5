"""Every ``twin`` command driven with bad arguments (issue 16, item 1): one line, no traceback.

Each row is a command of the ``twin --help`` tree with one user mistake: a value out of its
range, a choice that is not one, a path that is a file where a folder is wanted (or the
other way), a result path that cannot be written, a store that is not there, a scheduler
nobody answers at. Per row: exit code 2, one error line naming the option or the file, no
Python traceback, and the refusal comes before any work (each row must end within
:data:`REFUSAL_S`; a refusal after a computation would take minutes).

The commands run in this process (``typer.testing.CliRunner``); rows that need a store get
the shared ``sample_store`` so the mistake, not a missing store, is what stops them.
"""

from __future__ import annotations

import signal
import socket
import socketserver
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app

#: Seconds a row may take: a refusal is immediate; work would take far longer.
REFUSAL_S = 60

S0 = ["--start", "2016-07-04"]

ROWS = [
    # --- top level: info, simulate, city, data, ingest, serve
    ("info-city-missing", ["info", "--city", "{missing}"], "{missing}"),
    ("info-city-is-file", ["info", "--city", "{afile}"], "{afile}"),
    ("simulate-at", ["simulate", "--at", "noon-ish"], "noon-ish"),
    ("simulate-band", ["simulate", "--v-min-pu", "1.2", "--v-max-pu", "1.1"], "--v-min-pu"),
    ("simulate-pressure", ["simulate", "--min-pressure-m", "-5"], "--min-pressure-m"),
    ("simulate-voltage-negative", ["simulate", "--v-min-pu", "-1"], "--v-min-pu"),
    ("city-build-recipe", ["city", "build", "--recipe", "{missing}"], "{missing}"),
    ("city-build-out-file", ["city", "build", "--out", "{afile}"], "--out"),
    ("city-import-timezone", ["city", "import", "{tmp}/new_city", "--timezone", "Mars/Olympus",
                              "--latitude", "48", "--longitude", "7", "--year", "2016",
                              "--grid", "{garbage}"], "Mars/Olympus"),
    ("city-import-latitude", ["city", "import", "{tmp}/new_city", "--timezone",
                              "Europe/Berlin", "--latitude", "123", "--longitude", "7",
                              "--year", "2016", "--grid", "{garbage}"], "--latitude"),
    ("city-import-grid-garbage", ["city", "import", "{tmp}/new_city", "--timezone",
                                  "Europe/Berlin", "--latitude", "48", "--longitude", "7",
                                  "--year", "2016", "--grid", "{garbage}"], "{garbage}"),
    ("city-import-no-network", ["city", "import", "{tmp}/new_city", "--timezone",
                                "Europe/Berlin", "--latitude", "48", "--longitude", "7",
                                "--year", "2016"], "--grid"),
    ("city-import-grid", ["city", "import", "{tmp}/new_city", "--timezone", "Europe/Berlin",
                          "--latitude", "48", "--longitude", "7", "--year", "2016", "--grid",
                          "{missing}"], "{missing}"),
    ("data-build-days-0", ["data", "build", "--days", "0"], "--days"),
    ("data-build-days-neg", ["data", "build", "--days", "-1"], "--days"),
    ("data-build-customers-0", ["data", "build", "--customers", "0"], "--customers"),
    ("data-build-start", ["data", "build", "--start", "someday"], "someday"),
    ("data-build-start-year", ["data", "build", "--start", "2030-01-01"], "2030-01-01"),
    ("data-audit-store-file", ["data", "audit", "--store", "{afile}"], "{afile}"),
    ("data-audit-raw-missing", ["data", "audit", "--raw", "{missing}", "--store", "{store}"],
     "{missing}"),
    ("ingest-kind", ["ingest", "--kind", "bogus", "{afile}"], "--kind"),
    ("ingest-format", ["ingest", "--format", "bogus", "{afile}"], "--format"),
    ("ingest-unit", ["ingest", "--unit", "parsecs", "{afile}"], "--unit"),
    ("ingest-missing-file", ["ingest", "{missing}"], "{missing}"),
    ("ingest-store-file", ["ingest", "--store", "{afile}", "{afile}"], "--store"),
    ("ingest-store-unwritable", ["ingest", "--store", "{afile}/store", "{afile}"], "--store"),
    ("ingest-tag-map", ["ingest", "--tag-map", "{badcsv}", "--store", "{tmp}/new_store",
                        "{afile}"], "bad.csv"),
    ("ingest-reading-type", ["ingest", "--reading-type", "{garbage}", "--store",
                             "{tmp}/new_store", "{afile}"], "garbage.nc"),
    ("serve-port-0", ["serve", "--port", "0"], "--port"),
    ("serve-port-big", ["serve", "--port", "70000"], "--port"),
    # --- electric
    ("qsts-days-0", ["electric", "qsts", "--days", "0"], "--days"),
    ("qsts-start", ["electric", "qsts", "--start", "bogus", "--days", "1"], "bogus"),
    ("qsts-out-folder", ["electric", "qsts", "--days", "1", "--out", "{adir}"], "--out"),
    ("qsts-out-unwritable", ["electric", "qsts", "--days", "1", "--out", "{afile}/q.nc"],
     "--out"),
    ("violations-result-missing", ["electric", "violations", "--result", "{missing}"],
     "{missing}"),
    ("violations-result-garbage", ["electric", "violations", "--result", "{garbage}"],
     "{garbage}"),
    ("violations-result-text", ["electric", "violations", "--result", "{afile}"], "{afile}"),
    ("violations-top-0", ["electric", "violations", "--top", "0"], "--top"),
    ("violations-loading-0", ["electric", "violations", "--max-loading-percent", "0"],
     "--max-loading-percent"),
    ("violations-band", ["electric", "violations", "--v-min-pu", "1.1", "--v-max-pu", "0.9"],
     "--v-min-pu"),
    ("losses-store-file", ["electric", "losses", "--store", "{afile}"], "--store"),
    ("losses-top-0", ["electric", "losses", "--top", "0"], "--top"),
    ("hc-out-folder", ["electric", "hosting-capacity", "--out", "{adir}"], "--out"),
    ("hc-out-unwritable", ["electric", "hosting-capacity", "--out", "{afile}/hc.csv"], "--out"),
    ("hc-hours-0", ["electric", "hosting-capacity", "--hours", "0"], "--hours"),
    ("hc-resolution-0", ["electric", "hosting-capacity", "--resolution-kw", "0"],
     "--resolution-kw"),
    ("hc-vmax-low", ["electric", "hosting-capacity", "--v-max-pu", "0.5"], "--v-max-pu"),
    ("n1-out-unwritable", ["electric", "n1", "--out", "{afile}/n1.csv"], "--out"),
    ("n1-top-0", ["electric", "n1", "--top", "0"], "--top"),
    # --- water
    ("leaks-top-0", ["water", "leaks", *S0, "--top", "0", "--store", "{store}"], "--top"),
    ("leaks-days-1", ["water", "leaks", *S0, "--days", "1", "--store", "{store}"], "--days"),
    ("leaks-rank-metric", ["water", "leaks", *S0, "--rank-metric", "nearest", "--store",
                           "{store}"], "--rank-metric nearest"),
    ("leaks-signature-course", ["water", "leaks", *S0, "--signature-course", "ramp",
                                "--store", "{store}"], "--signature-course ramp"),
    ("leaks-scheduler-dead", ["water", "leaks", *S0, "--store", "{store}", "--scheduler",
                              "{dead}"], "{dead}"),
    ("leaks-scheduler-not-dask", ["water", "leaks", *S0, "--store", "{store}", "--scheduler",
                                  "{liar}"], "{liar}"),
    ("leaks-scheduler-garbage", ["water", "leaks", *S0, "--store", "{store}", "--scheduler",
                                 "nonsense"], "nonsense"),
    ("leaks-store-file", ["water", "leaks", *S0, "--store", "{afile}"], "--store"),
    ("leaks-store-missing", ["water", "leaks", *S0, "--store", "{missing}"], "{missing}"),
    ("leaks-truth-missing", ["water", "leaks", *S0, "--store", "{store}", "--truth",
                             "{missing}"], "{missing}"),
    ("leaks-rebase-0", ["water", "leaks", *S0, "--store", "{store}", "--rebase-h", "0"],
     "--rebase-h"),
    ("leaks-window-0", ["water", "leaks", *S0, "--store", "{store}", "--locate-window-h", "0"],
     "--locate-window-h"),
    ("leaks-clear-nan", ["water", "leaks", *S0, "--store", "{store}", "--clear-step-ratio",
                         "nan"], "--clear-step-ratio"),
    ("leaks-truth-bad", ["water", "leaks", *S0, "--store", "{store}", "--truth", "{badcsv}"],
     "{badcsv}"),
    ("leaks-days-huge", ["water", "leaks", *S0, "--days", "10000", "--store", "{store}"],
     "--days"),
    ("leaks-start", ["water", "leaks", "--start", "yesterday-ish", "--store", "{store}"],
     "yesterday-ish"),
    ("outage-hours-0", ["water", "outage", "--feeder", "F83", "--hours", "0"], "--hours"),
    ("outage-no-supply", ["water", "outage"], "--feeder"),
    ("outage-feeder", ["water", "outage", "--feeder", "NOPE"], "NOPE"),
    ("outage-bus", ["water", "outage", "--bus", "99999"], "99999"),
    ("outage-bus-negative", ["water", "outage", "--bus", "-1"], "bus -1"),
    ("outage-start", ["water", "outage", "--feeder", "F83", "--start", "teatime"], "teatime"),
    ("simulate-days-0", ["water", "simulate", "--days", "0"], "--days"),
    ("simulate-required-pressure-negative",
     ["water", "simulate", "--required-pressure-m", "-1"], "--required-pressure-m"),
    ("simulate-step-0", ["water", "simulate", "--step-min", "0"], "--step-min"),
    ("simulate-out-unwritable", ["water", "simulate", "--days", "1", "--out", "{afile}/w.nc"],
     "--out"),
    ("simulate-out-folder", ["water", "simulate", "--days", "1", "--out", "{adir}"], "--out"),
    ("simulate-inp-missing", ["water", "simulate", "--inp", "{missing}"], "{missing}"),
    ("simulate-inp-garbage", ["water", "simulate", "--inp", "{garbage}"], "{garbage}"),
    ("simulate-inp-text", ["water", "simulate", "--inp", "{afile}"], "{afile}"),
    ("simulate-multiplier", ["water", "simulate", "--demand-multiplier", "-1"],
     "--demand-multiplier"),
    ("balance-csv-unwritable", ["water", "balance", *S0, "--days", "21", "--store", "{store}",
                                "--csv", "{afile}/b.csv"], "--csv"),
    ("balance-days-0", ["water", "balance", *S0, "--days", "0", "--store", "{store}"],
     "--days"),
    ("balance-store-missing", ["water", "balance", *S0, "--store", "{missing}"], "{missing}"),
    ("balance-start", ["water", "balance", "--start", "2016-13-45", "--store", "{store}"],
     "2016-13-45"),
    ("night-flow-csv-folder", ["water", "night-flow", *S0, "--store", "{store}", "--csv",
                               "{adir}"], "--csv"),
    ("night-flow-days-0", ["water", "night-flow", *S0, "--days", "0", "--store", "{store}"],
     "--days"),
    ("night-flow-n1", ["water", "night-flow", *S0, "--n1", "-1", "--store", "{store}"], "--n1"),
    # --- forecast
    ("run-batch-0", ["forecast", "run", "--batch-size", "0", "--store", "{store}"],
     "--batch-size"),
    ("run-horizon", ["forecast", "run", "--horizon", "bogus", "--store", "{store}"],
     "--horizon"),
    ("run-model", ["forecast", "run", "--model", "crystal_ball", "--store", "{store}"],
     "--model"),
    ("run-reconcile", ["forecast", "run", "--reconcile", "magic", "--store", "{store}"],
     "--reconcile"),
    ("run-step", ["forecast", "run", "--step", "soon", "--store", "{store}"], "--step"),
    ("run-target-day", ["forecast", "run", "--target-day", "tomorrow-ish", "--store",
                        "{store}"], "--target-day"),
    ("run-workers-0", ["forecast", "run", "--workers", "0", "--store", "{store}"],
     "--workers"),
    ("run-scheduler-dead", ["forecast", "run", "--scheduler", "{dead}", "--store", "{store}"],
     "{dead}"),
    ("run-store-file", ["forecast", "run", "--store", "{afile}"], "--store"),
    ("run-store-missing", ["forecast", "run", "--store", "{missing}"], "{missing}"),
    ("run-level", ["forecast", "run", "--level", "galaxy", "--store", "{store}"], "galaxy"),
    ("run-hierarchy", ["forecast", "run", "--hierarchy", "gas", "--store", "{store}"],
     "--hierarchy"),
    ("run-calibration", ["forecast", "run", "--calibration-days", "-1", "--store", "{store}"],
     "--calibration-days"),
    ("run-country", ["forecast", "run", "--country", "XX", "--store", "{store}"], "XX"),
    ("run-series", ["forecast", "run", "--series", "NOPE", "--store", "{store}"], "NOPE"),
    ("run-weather", ["forecast", "run", "--weather", "XXXX", "--store", "{store}"], "XXXX"),
    ("backtest-weeks-0", ["forecast", "backtest", "--weeks", "0", "--store", "{store}"],
     "--weeks"),
    ("backtest-weeks-100", ["forecast", "backtest", "--weeks", "100", "--store", "{store}"],
     "--weeks"),
    ("backtest-series-weeks-100", ["forecast", "backtest", "--series", "F0", "--weeks", "100",
                                   "--store", "{store}"], "--weeks"),
    ("backtest-horizon", ["forecast", "backtest", "--horizon", "bogus", "--store", "{store}"],
     "--horizon"),
    ("backtest-model", ["forecast", "backtest", "--model", "crystal_ball", "--store",
                        "{store}"], "crystal_ball"),
    ("backtest-save-unwritable", ["forecast", "backtest", "--save", "{afile}/t.csv",
                                  "--store", "{store}"], "--save"),
    ("backtest-end-early", ["forecast", "backtest", "--end", "2016-07-10", "--store",
                            "{store}"], "--weeks"),
    ("backtest-kind", ["forecast", "backtest", "--series", "X", "--kind", "bogus", "--store",
                       "{store}"], "--kind"),
    ("backtest-end", ["forecast", "backtest", "--end", "never", "--store", "{store}"],
     "--end"),
    ("lookahead-hours-0", ["forecast", "lookahead", "--hours", "0", "--store", "{store}"],
     "--hours"),
    ("lookahead-issue-time", ["forecast", "lookahead", "--issue-time", "whenever", "--store",
                              "{store}"], "whenever"),
    ("lookahead-scheduler-dead", ["forecast", "lookahead", "--scheduler", "{dead}", "--store",
                                  "{store}"], "{dead}"),
    ("lookahead-store-missing", ["forecast", "lookahead", "--store", "{missing}"],
     "{missing}"),
    # --- maintenance
    ("rank-top-0", ["maintenance", "rank", "--top", "0"], "--top"),
    ("rank-csv-unwritable", ["maintenance", "rank", "--csv", "{afile}/r.csv"], "--csv"),
    ("rank-parquet-folder", ["maintenance", "rank", "--parquet", "{adir}"], "--parquet"),
    ("rank-history-missing", ["maintenance", "rank", "--history", "{missing}"], "{missing}"),
    ("rank-history-garbage", ["maintenance", "rank", "--history", "{garbage}"], "{garbage}"),
    ("rank-store-file", ["maintenance", "rank", "--store", "{afile}"], "--store"),
    ("plan-budget-0", ["maintenance", "plan", "--budget", "0"], "--budget"),
    ("plan-years-0", ["maintenance", "plan", "--budget", "1e6", "--years", "0"], "--years"),
    ("plan-csv-unwritable", ["maintenance", "plan", "--budget", "1e6", "--csv",
                             "{afile}/p.csv"], "--csv"),
    ("report-out-folder", ["maintenance", "report", "--out", "{adir}"], "--out"),
    ("report-top-0", ["maintenance", "report", "--out", "{tmp}/r.pdf", "--top", "0"], "--top"),
    ("report-budget", ["maintenance", "report", "--out", "{tmp}/r.pdf", "--budget", "-1"],
     "--budget"),
    ("history-out-file", ["maintenance", "history", "--out", "{afile}"], "--out"),
    # --- scenario
    ("scenario-run-missing", ["scenario", "run", "{missing}"], "{missing}"),
    ("scenario-run-garbage", ["scenario", "run", "{garbage}"], "{garbage}"),
    ("scenario-run-out-file", ["scenario", "run", "{root}/scenarios/base_year.yaml", "--out",
                               "{afile}"], "--out"),
    ("sweep-workers-0", ["scenario", "sweep", "{root}/scenarios/ev_pv_sweep.yaml", "--workers",
                         "0"], "--workers"),
    ("sweep-scheduler-dead", ["scenario", "sweep", "{root}/scenarios/ev_pv_sweep.yaml",
                              "--scheduler", "{dead}", "--out", "{tmp}/sweep"], "{dead}"),
    ("compare-missing", ["scenario", "compare", "{missing}"], "{missing}"),
    ("compare-empty", ["scenario", "compare", "{adir}"], "{adir}"),
    ("compare-garbage", ["scenario", "compare", "{garbage}"], "{garbage}"),
    ("list-missing", ["scenario", "list", "{missing}"], "{missing}"),
    ("validate-garbage", ["scenario", "validate", "{garbage}"], "{garbage}"),
    ("validate-missing", ["scenario", "validate", "{missing}"], "{missing}"),
    ("schema-out-folder", ["scenario", "schema", "--out", "{adir}"], "--out"),
    # --- users
    ("users-add-name", ["users", "add", "bad name!", "--password", "long enough 1"],
     "bad name!"),
    ("users-add-password", ["users", "add", "alice", "--password", "x"], "password"),
    ("users-remove", ["users", "remove", "nobody"], "nobody"),
]


class NotAScheduler(socketserver.BaseRequestHandler):
    """Accepts a connection, answers bytes that are no Dask frame, hangs up."""

    def handle(self) -> None:
        self.request.sendall(b"\xff" * 64)


@pytest.fixture(scope="module")
def liar():
    """``tcp://127.0.0.1:PORT`` of a server that accepts connections but is no scheduler
    (as some networks' proxies do for any address)."""
    with socketserver.TCPServer(("127.0.0.1", 0), NotAScheduler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


@pytest.fixture(scope="module")
def places(sample_store, liar, tmp_path_factory) -> dict[str, str]:
    """What the rows' ``{placeholders}`` stand for: real files and folders of each sort."""
    tmp = tmp_path_factory.mktemp("bad_arguments")
    afile = tmp / "a_file.txt"
    afile.write_text("not a folder\n")
    adir = tmp / "a_folder"
    adir.mkdir()
    garbage = tmp / "garbage.nc"
    garbage.write_bytes(b"\x89HDF\r\n\x00 this is not what it says\x00" * 8)
    badcsv = tmp / "bad.csv"  # a CSV whose columns are nobody's
    badcsv.write_text("when,what\nnoon,something\n")
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    return {"tmp": str(tmp), "afile": str(afile), "adir": str(adir), "garbage": str(garbage),
            "badcsv": str(badcsv),
            "missing": str(tmp / "not_there" / "nothing.here"), "store": sample_store.url,
            "dead": dead, "liar": liar, "root": str(Path(__file__).resolve().parents[1])}


class TookTooLong(Exception):
    """A row ran past :data:`REFUSAL_S`: the command worked instead of refusing."""


def _alarm(signum, frame):
    raise TookTooLong(f"no refusal within {REFUSAL_S} s")


def run_row(args: list[str], places: dict[str, str], tmp_path: Path):
    """Invoke ``twin`` with ``args`` (placeholders filled) in this process."""
    env = {"TWIN_DATA_DIR": str(tmp_path / "data"), "TWIN_USERS_FILE": str(tmp_path / "u.json"),
           "TWIN_DASK_SCHEDULER": None, "TWIN_CITY": None, "COLUMNS": "100"}
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(REFUSAL_S)
    try:
        return CliRunner().invoke(app, [a.format(**places) for a in args], env=env)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def error_lines(output: str) -> list[str]:
    """The lines that say what went wrong (ours start ``error:``, click's ``Error:``)."""
    return [line for line in output.splitlines() if line.lower().startswith("error")]


@pytest.mark.parametrize("args, names", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_argument_is_one_line_exit_2(args, names, places, tmp_path):
    result = run_row(args, places, tmp_path)
    out = result.output
    assert not isinstance(result.exception, TookTooLong), "worked instead of refusing"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}\n{out}")
    assert "Traceback" not in out and 'File "' not in out, out
    assert result.exit_code == 2, out
    lines = error_lines(out)
    assert len(lines) == 1, out
    assert names.format(**places) in lines[0], out
    assert len([x for x in out.splitlines() if x.strip()]) <= 4, out  # click: usage + error


def test_table_covers_every_command():
    """Every command of the ``twin --help`` tree that takes an argument has a row."""
    import typer.main

    def commands(group, prefix=()):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from commands(cmd, (*prefix, name))
            else:
                yield (*prefix, name)

    tree = set(commands(typer.main.get_command(app)))
    without_arguments = {("users", "list"), ("users", "local")}
    uncovered = {c for c in tree - without_arguments
                 if not any(tuple(r[1][:len(c)]) == c for r in ROWS)}
    assert not uncovered
    assert len(ROWS) >= 40


# ------------------------------------------------------------------ an unexpected error

def _boom(*args, **kwargs):
    raise RuntimeError("boom: the city loader broke")


def run_main(args: list[str], monkeypatch, capsys) -> tuple[int, list[str]]:
    """Run the console script's entry (``twin.cli.main``) as ``twin ARGS``; exit code and
    the non-empty lines it printed."""
    from twin.cli import main

    monkeypatch.setattr("sys.argv", ["twin", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    out = capsys.readouterr()
    return stop.value.code, [x for x in (out.out + out.err).splitlines() if x.strip()]


def test_internal_error_is_one_line_and_a_log_file(monkeypatch, capsys, tmp_path):
    """An error that is no user's mistake (here the city loader made to raise) ends in one
    line naming it and the log file that holds its whole traceback; exit 1."""
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("twin.city.load_city", _boom)
    code, lines = run_main(["info"], monkeypatch, capsys)
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("internal error: RuntimeError: boom: the city loader broke")
    logs = list((tmp_path / "data" / "logs").glob("twin-error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]
    text = logs[0].read_text()
    assert text.startswith("twin info\n")
    assert "Traceback (most recent call last)" in text and "in _boom" in text
    assert text.rstrip().endswith("RuntimeError: boom: the city loader broke")


def test_internal_error_log_falls_back_to_the_temp_folder(monkeypatch, capsys, tmp_path):
    """A data directory that cannot be written (a file) does not lose the traceback."""
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data directory should be")
    monkeypatch.setenv("TWIN_DATA_DIR", str(blocked))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.setattr("twin.city.load_city", _boom)
    code, lines = run_main(["info"], monkeypatch, capsys)
    assert code == 1 and len(lines) == 1
    logs = list((tmp_path / "tmp").glob("twin-error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]


def test_user_mistakes_keep_exit_2_through_the_entry(monkeypatch, capsys, tmp_path):
    """Through the same entry a user mistake stays one ``error:`` line and exit 2, and a
    click usage error stays click's (exit 2); no log is written for them."""
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "data"))
    code, lines = run_main(["water", "simulate", "--days", "0"], monkeypatch, capsys)
    assert code == 2 and lines == ["error: --days 0.0 and --step-min 60 must be positive"]
    code, lines = run_main(["electric", "n1", "--top", "zero"], monkeypatch, capsys)
    assert code == 2 and lines[-1].startswith("Error: Invalid value for '--top'")
    assert not (tmp_path / "data" / "logs").exists()


def test_a_live_scheduler_passes_the_check():
    """The scheduler check lets a real Dask scheduler through (and fast)."""
    from distributed import LocalCluster

    from twin.cli.common import reachable_scheduler

    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster:
        address = cluster.scheduler_address
        assert reachable_scheduler(address) == address
