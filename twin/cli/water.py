"""``twin water …``: the water network: hydraulics, water balance, night flow, leaks."""

from __future__ import annotations

import typer

app = typer.Typer(help="The water network: hydraulics, water balance, night flow, leaks.\n\nExample: twin water simulate", no_args_is_help=True)
