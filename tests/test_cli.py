"""The `twin` command as a user runs it: a real process, real output, clear errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TWIN = shutil.which("twin", path=str(Path(sys.executable).parent)) or "twin"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TWIN, *args], capture_output=True, text=True, timeout=300,
                          env={"COLUMNS": "200", "PATH": str(Path(sys.executable).parent),
                               "HOME": str(Path.home())})


def test_info_lists_the_city():
    out = run("info")
    assert out.returncode == 0, out.stderr
    for word in ["buses", "144", "junctions", "92", "customers", "3,000", "DMAs", "assets"]:
        assert word in out.stdout


def test_simulate_prints_the_summary():
    out = run("simulate", "--at", "2016-07-14 18:00")
    assert out.returncode == 0, out.stderr
    assert "2016-07-14 18:00 EDT" in out.stdout
    assert "voltage min / max" in out.stdout and "pressure min / mean" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["simulate", "--at", "2031-01-01 00:00"], "outside the city's year"),
    (["simulate", "--at", "noon-ish"], "is not a time"),
    (["simulate", "--v-min-pu", "1.2"], "must be below"),
])
def test_simulate_refuses_bad_input_without_a_traceback(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert message in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_malformed_option_is_a_usage_error():
    out = run("simulate", "--min-pressure-m", "lots")
    assert out.returncode == 2
    assert "Traceback" not in out.stdout + out.stderr
