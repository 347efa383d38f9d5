"""``twin electric …``: the electricity network: year-long QSTS, violations, losses, hosting capacity, N-1."""

from __future__ import annotations

import typer

app = typer.Typer(help="The electricity network: year-long QSTS, violations, losses, hosting capacity, N-1.\n\nExample: twin electric qsts", no_args_is_help=True)
