"""Peak memory of every README command on the sample city's year, beside the 2 GiB ceiling.

Each command of README.md's "The `twin` command" list runs as its own subprocess
(``python -m twin.cli …``) on one data directory holding the sample city's year (``twin data
build``: raw files, truth and the ingested store). Its peak resident memory is measured two
ways, and the larger is printed:

- the process tree, polled every ``--interval`` s with psutil (the command and every child it
  starts: Dask workers, ``panel serve``, EPANET runs), summed over the tree;
- the command process's own peak from the kernel (``wait4`` → ``ru_maxrss``), which catches
  spikes shorter than the polling interval.

One row per command: exit code, seconds, peak [GiB], the ceiling (issue 16: 2 GiB on the
sample city's year) and PASS/FAIL. A command that exits non-zero is listed with its last
line (it is not a memory result). Commands run in README order, so ``electric qsts`` saves
the year's result that ``violations`` and ``losses`` read.

    TWIN_DATA_DIR=/data/year python benchmarks/bench_memory.py            # every command
    python benchmarks/bench_memory.py --data-dir /data/year --only audit --only losses
    python benchmarks/bench_memory.py --data-dir /data/year --checkout ../main   # another tree

The data directory must hold ``raw/`` (with ``truth/faults.csv``) and ``store/`` of the
year; ``--build`` runs ``twin data build --if-missing`` into it first (tens of minutes).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

#: The issue's ceiling for every command on the sample city's year [B].
CEILING_BYTES = 2 * 1024**3
GIB = 1024**3
ROOT = Path(__file__).resolve().parents[1]


def readme_commands(scratch: Path, root: Path = ROOT) -> list[tuple[str, list[str]]]:
    """The README's ``twin`` commands as (label, arguments), in README order.

    Commands that write a file write it under ``scratch``; ``serve`` and ``city build``
    (which rewrites the committed city) are left out: one is a server, the other the
    city's definition, not a command on the year's data.
    """
    sweep_out = scratch / "sweep"
    year = ["--start", "2016-01-01", "--days", "366"]  # the sample city's year (2016)
    scenarios = root / "scenarios"
    return [
        ("info", ["info"]),
        ("simulate", ["simulate", "--at", "2016-07-14 18:00"]),
        ("data audit", ["data", "audit"]),
        ("electric qsts", ["electric", "qsts"]),
        ("electric violations", ["electric", "violations"]),
        ("electric losses", ["electric", "losses"]),
        ("electric hosting-capacity", ["electric", "hosting-capacity"]),
        ("electric n1", ["electric", "n1"]),
        ("water simulate", ["water", "simulate"]),
        ("water balance", ["water", "balance", *year]),
        ("water night-flow", ["water", "night-flow", *year]),
        ("water leaks", ["water", "leaks", "--start", "2016-01-11", "--days", "7",
                         "--baseline-days", "2"]),  # the README's example period
        ("water outage", ["water", "outage", "--feeder", "F83", "--start", "2016-07-14 20:00",
                          "--hours", "6"]),
        ("forecast run", ["forecast", "run", "--level", "feeder", "--horizon", "day-ahead"]),
        ("forecast backtest", ["forecast", "backtest", "--weeks", "1"]),
        ("forecast lookahead", ["forecast", "lookahead"]),
        ("maintenance history", ["maintenance", "history"]),
        ("maintenance rank", ["maintenance", "rank", "--csv", str(scratch / "ranking.csv")]),
        ("maintenance plan", ["maintenance", "plan", "--budget", "2e6", "--years", "5"]),
        ("maintenance report", ["maintenance", "report", "--out", str(scratch / "report.pdf"),
                                "--top", "20"]),
        ("scenario list", ["scenario", "list"]),
        ("scenario run", ["scenario", "run", str(scenarios / "ev_2030.yaml")]),
        ("scenario sweep", ["scenario", "sweep", str(scenarios / "ev_pv_sweep.yaml"),
                            "--workers", "2", "--out", str(sweep_out)]),
        ("scenario compare", ["scenario", "compare", str(sweep_out)]),
        ("scenario validate", ["scenario", "validate", *sorted(
            str(p) for p in scenarios.glob("*.yaml"))]),
    ]


@dataclass
class Peak:
    """What one command used."""

    label: str
    exit_code: int
    seconds: float
    tree_bytes: int  # largest sum of RSS over the process tree seen by polling [B]
    own_bytes: int  # the command process's own peak RSS from the kernel [B]
    last_line: str

    @property
    def peak_bytes(self) -> int:
        return max(self.tree_bytes, self.own_bytes)


def tree_rss(proc: psutil.Process) -> int:
    """Resident memory of a process and all its descendants [B] (0 once it has gone)."""
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in members:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(label: str, argv: list[str], env: dict, interval: float,
            timeout: float, root: Path = ROOT) -> Peak:
    """Run ``python -m twin.cli argv`` and measure its peak memory (see module docstring)."""
    cmd = [sys.executable, "-m", "twin.cli", *argv]
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                 cwd=root, start_new_session=True)
        proc = psutil.Process(child.pid)
        peak = {"tree": 0}
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                peak["tree"] = max(peak["tree"], tree_rss(proc))
                done.wait(interval)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        deadline = t0 + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(child.pid, 9)
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        done.set()
        watcher.join()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = [x.strip() for x in out.read().decode(errors="replace").splitlines()
                 if x.strip()]
    code = child.returncode if seconds < timeout else -9
    return Peak(label, code, seconds, peak["tree"], usage.ru_maxrss * 1024,
                lines[-1][:100] if lines else "")


def _commit(root: Path) -> str:
    """The checkout's commit (short hash), or "?" outside git."""
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="data directory of the sample city's year (default $TWIN_DATA_DIR)")
    ap.add_argument("--only", action="append", default=[],
                    help="run only commands whose label contains this (repeatable)")
    ap.add_argument("--interval", type=float, default=0.1, help="polling interval [s]")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per command [s]")
    ap.add_argument("--checkout", type=Path, default=ROOT,
                    help="the twin's checkout whose code runs (default this one)")
    ap.add_argument("--build", action="store_true",
                    help="run 'twin data build --if-missing' into the data directory first")
    args = ap.parse_args()
    env = dict(os.environ)
    data_dir = args.data_dir or (Path(env["TWIN_DATA_DIR"]) if env.get("TWIN_DATA_DIR")
                                 else None)
    if data_dir is None:
        sys.exit("give --data-dir or $TWIN_DATA_DIR: the sample city's year (twin data build)")
    env["TWIN_DATA_DIR"] = str(data_dir)
    root = args.checkout.resolve()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("TWIN_PSEUDONYM_KEY", "bench-memory")
    if args.build:
        subprocess.run([sys.executable, "-m", "twin.cli", "data", "build", "--if-missing"],
                       env=env, cwd=root, check=True)
    store = data_dir / "store"
    if not (store / "_manifest").is_dir() or not (data_dir / "raw" / "truth").is_dir():
        sys.exit(f"{data_dir}: no raw/truth and store/ of the year; run with --build "
                 "(twin data build) first")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        commands = [(label, argv) for label, argv in readme_commands(Path(tmp), root)
                    if not args.only or any(o in label for o in args.only)]
        print(f"code {root} ({_commit(root)}); data directory {data_dir}; ceiling {CEILING_BYTES / GIB:.0f} GiB; "
              f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / GIB:.1f} GiB; "
              f"{len(commands)} commands")
        baseline = measure("--help", ["--help"], env, args.interval, 120.0, root)
        rows = [baseline]
        for label, argv in commands:
            print(f"running twin {shlex.join(argv)} …", flush=True)
            rows.append(measure(label, argv, env, args.interval, args.timeout, root))
            r = rows[-1]
            print(f"  exit {r.exit_code}, {r.seconds:.0f} s, peak {r.peak_bytes / GIB:.2f} GiB",
                  flush=True)
    print()
    head = (f"{'command':<30} {'exit':>4} {'seconds':>8} {'tree GiB':>9} {'own GiB':>8} "
            f"{'peak GiB':>9} {'ceiling':>8}  verdict")
    print(head)
    print("-" * len(head))
    failed = 0
    for r in rows:
        ok = r.peak_bytes <= CEILING_BYTES
        verdict = "PASS" if ok else "FAIL"
        if r.exit_code != 0:
            verdict += f" (exit {r.exit_code}: {r.last_line})"
        failed += not ok
        name = "twin --help (baseline)" if r is baseline else f"twin {r.label}"
        print(f"{name:<30} {r.exit_code:>4} {r.seconds:>8.1f} {r.tree_bytes / GIB:>9.2f} "
              f"{r.own_bytes / GIB:>8.2f} {r.peak_bytes / GIB:>9.2f} "
              f"{CEILING_BYTES / GIB:>7.0f}G  {verdict}")
    print(f"\n{len(rows) - 1 - failed + (baseline.peak_bytes > CEILING_BYTES)} of "
          f"{len(rows) - 1} commands within {CEILING_BYTES / GIB:.0f} GiB")


if __name__ == "__main__":
    main()
