"""Bad CLI arguments tried and tracebacks seen (issue 16, item 1; target 0 tracebacks).

Runs every row of the bad-argument table of ``tests/test_cli_bad_arguments.py`` (a command of
the ``twin --help`` tree with one user mistake) in this process against a checkout's ``twin``,
with a real three-week store of the sample city where a row needs one, and counts per row:
a traceback (an exception other than the exit), exit code 2, one ``error`` line naming the
option or file, and the seconds until the refusal. A row still working after ``--timeout``
seconds is counted as "ran instead of refusing".

Anchor printed beside the figures: the target (0 tracebacks, every row refused in one line).
To measure another tree (e.g. the code before this work) run the script with
``PYTHONPATH=<that checkout>`` and ``--checkout <that checkout>``.

Run: PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/bench_cli_bad_arguments.py
The machine is shared: seconds include other users' load (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import socketserver
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _NotAScheduler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"\xff" * 64)


class _TooLong(Exception):
    pass


def _places(tmp: Path, store_url: str, liar: str) -> dict[str, str]:
    """The rows' placeholders: the same sorts of files as the test's fixture."""
    tmp.mkdir(parents=True)
    afile = tmp / "a_file.txt"
    afile.write_text("not a folder\n")
    (tmp / "a_folder").mkdir()
    (tmp / "garbage.nc").write_bytes(b"\x89HDF\r\n\x00 this is not what it says\x00" * 8)
    (tmp / "bad.csv").write_text("when,what\nnoon,something\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    return {"tmp": str(tmp), "afile": str(afile), "adir": str(tmp / "a_folder"),
            "garbage": str(tmp / "garbage.nc"), "badcsv": str(tmp / "bad.csv"),
            "missing": str(tmp / "not_there" / "nothing.here"), "store": store_url,
            "dead": dead, "liar": liar, "root": str(ROOT)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=ROOT,
                        help="Tree whose tests/ holds the table (default this one).")
    parser.add_argument("--timeout", type=int, default=90, help="Seconds a row may work.")
    args = parser.parse_args()
    sys.path.insert(0, str(args.checkout / "tests"))
    from test_cli_bad_arguments import ROWS
    from typer.testing import CliRunner

    import twin
    from twin.city import load_city
    from twin.cli import app
    from twin.ingest.pipeline import ingest_paths
    from twin.ingest.store import MeasurementStore
    from twin.synthetic.measurements import build_measurements

    print(f"twin from {Path(twin.__file__).parent}; {len(ROWS)} rows; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="bench_cli_bad_"))
    city = load_city()
    t = time.perf_counter()
    build_measurements(city, tmp / "raw", start="2016-07-04", days=21, customers=400)
    store = MeasurementStore(str(tmp / "store"))
    ingest_paths(store, [tmp / "raw" / f for f in ("mdm", "amr", "pv", "scada", "greenbutton")],
                 timezone=city.timezone)
    print(f"sample store (21 days, 400 customers) built in {time.perf_counter() - t:.0f} s")
    server = socketserver.TCPServer(("127.0.0.1", 0), _NotAScheduler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    places = _places(tmp / "places", store.url, f"tcp://127.0.0.1:{server.server_address[1]}")

    def alarm(signum, frame):
        raise _TooLong

    signal.signal(signal.SIGALRM, alarm)
    counts = {"traceback": 0, "ran instead of refusing": 0, "exit 0 (accepted)": 0,
              "exit 2, not one line naming it": 0, "exit 2, one line naming it": 0}
    seconds = []
    for n, (name, row, names) in enumerate(ROWS):
        data = tmp / "data" / str(n)
        env = {"TWIN_DATA_DIR": str(data), "TWIN_USERS_FILE": str(data / "u.json"),
               "TWIN_DASK_SCHEDULER": None, "TWIN_CITY": None, "COLUMNS": "100"}
        t = time.perf_counter()
        signal.alarm(args.timeout)
        try:
            r = CliRunner().invoke(app, [a.format(**places) for a in row], env=env)
        finally:
            signal.alarm(0)
        seconds.append(time.perf_counter() - t)
        out = r.output
        errors = [x for x in out.splitlines() if x.lower().startswith("error")]
        if isinstance(r.exception, _TooLong):
            kind = "ran instead of refusing"
        elif (r.exception is not None and not isinstance(r.exception, SystemExit)) \
                or "Traceback" in out:
            kind = "traceback"
        elif r.exit_code != 2:
            kind = "exit 0 (accepted)" if r.exit_code == 0 else "traceback"
        elif len(errors) == 1 and names.format(**places) in errors[0]:
            kind = "exit 2, one line naming it"
        else:
            kind = "exit 2, not one line naming it"
        counts[kind] += 1
        if kind != "exit 2, one line naming it":
            what = (f"{type(r.exception).__name__}" if r.exception is not None
                    and not isinstance(r.exception, SystemExit) else (errors or [""])[0])
            print(f"  {name}: {kind} after {seconds[-1]:.1f} s: {what[:120]}")
    server.shutdown()
    print(f"bad arguments tried: {len(ROWS)}")
    for kind, k in counts.items():
        print(f"  {kind}: {k}")
    print(f"seconds per row: median {statistics.median(seconds):.2f}, max {max(seconds):.1f}")
    print(f"anchor (target): 0 tracebacks, {len(ROWS)} of {len(ROWS)} refused in one line")


if __name__ == "__main__":
    main()
