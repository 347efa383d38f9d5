"""``twin forecast …``: load and solar forecasts: run, backtest, look ahead."""

from __future__ import annotations

import typer

app = typer.Typer(help="Load and solar forecasts: run, backtest, look ahead.\n\nExample: twin forecast run --level feeder --horizon day-ahead", no_args_is_help=True)
