"""Run by Panel as the dashboard server starts (``panel serve --setup``, given by ``twin
serve``): the server warms itself (:func:`apps.serve.warm_up`)."""

import sys
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `apps` importable, any cwd
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.serve import warm_up  # noqa: E402

warm_up()
