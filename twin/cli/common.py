"""What every ``twin`` subcommand shares: the console, one-line errors, the city, progress bars,
and the checks of paths and addresses that run before any work."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()


def fail(message: str, code: int = 2) -> None:
    """Print a user error in one clear line (a library's line breaks joined) and exit,
    without a traceback."""
    line = " ".join(str(message).split())
    console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
    raise typer.Exit(code)


#: The ``--city`` option every command that needs a city takes (``$TWIN_CITY``; the sample
#: city ``data/city`` of the checkout is only the default).
CityDir = Annotated[Path | None, typer.Option(
    "--city", envvar="TWIN_CITY",
    help="City folder (see data/CITY-FOLDER.md); default the sample city data/city.")]


def load_city_or_fail(folder: Path | None = None, needs: tuple[str, ...] = (),
                      what: str = "this command"):
    """Return the city in ``folder`` (default: the sample city), or exit with one line saying
    what is wrong with its files, or which network ``what`` needs that the city lacks.

    Parameters
    ----------
    folder : Path, optional
        The ``--city`` option's value.
    needs : tuple of str
        ``"electric"`` and/or ``"water"``: networks the command cannot do without.
    what : str
        The command, named in the error, e.g. ``"twin electric qsts"``.
    """
    from twin.city import load_city

    if folder is not None and Path(folder).is_file():
        fail(f"--city {folder}: is a file; give a city folder (see data/CITY-FOLDER.md)")
    try:
        city = load_city(str(folder) if folder else None)
        city.require(*needs, what=what)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    return city


def option_error(exc) -> str:
    """The first error of a pydantic ``ValidationError`` raised by options put into a model
    (a scenario, a recipe) as one line naming the option: ``--min-pressure-m: …``."""
    err = exc.errors()[0]
    field = str(err["loc"][-1]) if err["loc"] else "value"
    return f"--{field.replace('_', '-')}: {err['msg'].removeprefix('Value error, ')}"


def progress_bar() -> Progress:
    """Return a rich progress bar with a description, a bar, counts and elapsed time."""
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                    "{task.total}"), TimeElapsedColumn(), console=console)


# ------------------------------------------------------------------ checks before any work
# A result path that cannot be written, a store that is a file, a scheduler nobody answers
# at: each is refused in one line before the command computes anything.

#: Seconds a scheduler address is given to accept a TCP connection.
SCHEDULER_CONNECT_TIMEOUT_S = 5.0


def _is_url(path) -> bool:
    """Whether ``path`` is an fsspec URL (``s3://…``): not checked on the local disk."""
    return "://" in str(path)


def _probe_folder(folder: Path) -> None:
    """Create ``folder`` if missing and write (then remove) a file in it; OSError if it
    cannot be written (read-only disk, no permission, a file on the way)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder, prefix=".twin-write-check-"):
        pass


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def writable_file(path: Path | str | None, option: str) -> Path | None:
    """Return ``path`` once a file can be written there, else exit with one line.

    Called at the start of a command, before any work, so a result is never computed and
    then lost. Missing parent folders are created; an existing file is opened for appending
    (and left as it was).

    Parameters
    ----------
    path : Path or str, optional
        The option's value; ``None`` (not given) is returned as it is.
    option : str
        The option named in the error, e.g. ``"--out"``.
    """
    if path is None or _is_url(path):
        return path
    path = Path(path)
    if path.is_dir():
        fail(f"{option} {path}: is a folder; give a file name")
    try:
        _probe_folder(path.parent)
        if path.exists():
            with open(path, "ab"):
                pass
    except OSError as exc:
        fail(f"{option} {path}: cannot be written ({_why(exc)}); give a path in a folder "
             "you can write")
    return path


def writable_folder(path: Path | str | None, option: str) -> Path | None:
    """Return ``path`` once it is a folder files can be written in (created if missing),
    else exit with one line naming ``option``."""
    if path is None or _is_url(path):
        return path
    path = Path(path)
    if path.exists() and not path.is_dir():
        fail(f"{option} {path}: is a file, not a folder; give a folder")
    try:
        _probe_folder(path)
    except OSError as exc:
        fail(f"{option} {path}: cannot be written ({_why(exc)}); give a folder you can write")
    return path


def existing_path(path: Path | str | None, option: str, what: str = "file") -> Path | None:
    """Return ``path`` if it exists (a ``what`` = ``"file"`` or ``"folder"``), else exit
    with one line naming ``option``."""
    if path is None or _is_url(path):
        return path
    path = Path(path)
    if not path.exists():
        fail(f"{option} {path}: no such {what}")
    if what == "file" and path.is_dir():
        fail(f"{option} {path}: is a folder; give a file")
    if what == "folder" and not path.is_dir():
        fail(f"{option} {path}: is a file; give a folder")
    return path


def store_root(path: Path | str | None, default: Path | None = None, option: str = "--store",
               write: bool = False) -> str:
    """The measurement store folder (``path``, else ``default``) as a string, checked before
    any work: it exists and is a folder (a store is made by ``twin ingest``), and with
    ``write`` files can be written in it. fsspec URLs are passed on unchecked.

    Opening a missing folder as a store would create it empty; this refuses instead.
    """
    root = path if path is not None else default
    if _is_url(root):
        return str(root)
    named = f"{option} {root}" if path is not None else f"{root} (the default store)"
    root = Path(root)
    if root.exists() and not root.is_dir():
        fail(f"{named}: is a file, not a measurement store folder; give the store's folder")
    if not root.exists():
        fail(f"{named}: no measurement store here; give --store or run `twin ingest "
             "<raw folders>` (or `twin data build`) first")
    if write:
        try:
            _probe_folder(root)
        except OSError as exc:
            fail(f"{named}: cannot be written ({_why(exc)}); give a store on a disk you "
                 "can write")
    return str(root)


def reachable_scheduler(scheduler: str | None, option: str = "--scheduler") -> str | None:
    """Return ``scheduler`` once a Dask scheduler answers at it (or at
    ``$TWIN_DASK_SCHEDULER`` when not given), else exit with one line within
    :data:`SCHEDULER_CONNECT_TIMEOUT_S` instead of Dask's 30 s and a traceback.

    ``None`` with no environment variable (a local cluster) passes. A ``tcp://`` or
    ``tls://`` address (or ``host:port``) must accept a connection; then Dask's own
    handshake must succeed (a port that accepts connections but is no scheduler fails too).
    """
    from twin.parallel import SCHEDULER_ENV, scheduler_address

    address = scheduler_address(scheduler)
    if not address:
        return scheduler
    named = f"{option} {address}" if scheduler else f"${SCHEDULER_ENV} {address}"
    protocol, _, rest = address.rpartition("://")
    if protocol not in ("", "tcp", "tls"):
        return scheduler
    host, _, port = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"{named}: not a scheduler address; give it as tcp://HOST:PORT")
    advice = "start one with `dask scheduler`, or leave --scheduler out to use a local cluster"
    try:
        with socket.create_connection((host, int(port)), timeout=SCHEDULER_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        fail(f"{named}: no Dask scheduler answers there ({_why(exc)}); {advice}")
    if not _dask_handshake(address if protocol else f"tcp://{address}"):
        fail(f"{named}: something accepts connections there but it is no Dask scheduler; "
             f"{advice}")
    return scheduler


def _dask_handshake(address: str) -> bool:
    """Whether Dask's comm handshake with ``address`` succeeds within
    :data:`SCHEDULER_CONNECT_TIMEOUT_S`."""
    import asyncio

    from distributed.comm import connect

    async def shake() -> None:
        comm = await connect(address, timeout=SCHEDULER_CONNECT_TIMEOUT_S)
        await comm.close()

    try:
        asyncio.run(asyncio.wait_for(shake(), SCHEDULER_CONNECT_TIMEOUT_S + 1))
    except Exception:  # noqa: BLE001 - refused, timed out, or garbage read as a frame size
        return False
    return True


# ------------------------------------------------------------------ unexpected errors

def internal_error_log(exc: BaseException, argv: list[str]) -> Path:
    """Write the traceback of an unexpected error, with the command line, to a new log file
    under ``<data directory>/logs`` (the system temp folder if that cannot be written) and
    return its path."""
    from twin import config

    text = (f"twin {' '.join(argv)}\n{time.strftime('%Y-%m-%d %H:%M:%S %z')}; Python "
            f"{sys.version.split()[0]}; pid {os.getpid()}\n\n"
            + "".join(traceback.format_exception(exc)))
    name = f"twin-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (config.data_dir() / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    raise exc


def run_app(app: typer.Typer, args: list[str] | None = None) -> None:
    """Run the ``twin`` app as its console script does, with the one error path:

    user mistakes are already one line and exit 2 (:func:`fail`, click's usage errors);
    any other exception prints one line saying what failed and the log file holding its
    traceback (:func:`internal_error_log`), and exits 1.
    """
    argv = list(sys.argv[1:] if args is None else args)
    try:
        app(args=argv, prog_name="twin")
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors end
        log = internal_error_log(exc, argv)
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        console.print(f"[bold red]internal error:[/] {escape(type(exc).__name__)}"
                      f"{': ' + escape(first) if first else ''}; the full traceback is in "
                      f"{escape(str(log))}; please report it with that file", soft_wrap=True)
        raise SystemExit(1) from None
