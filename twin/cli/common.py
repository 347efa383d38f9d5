"""What every ``twin`` subcommand shares: the console, one-line errors, the city, progress bars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()


def fail(message: str, code: int = 2) -> None:
    """Print a user error in one clear line and exit, without a traceback."""
    console.print(f"[bold red]error:[/] {escape(str(message))}")
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

    try:
        city = load_city(str(folder) if folder else None)
        city.require(*needs, what=what)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    return city


def progress_bar() -> Progress:
    """Return a rich progress bar with a description, a bar, counts and elapsed time."""
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                    "{task.total}"), TimeElapsedColumn(), console=console)
