"""The series plots of the *Now* page are let go with the session (issue 17: server memory
after the sessions close within 10 % of before)."""

import gc
import weakref

import hvplot.pandas  # noqa: F401  (registers .hvplot)
import numpy as np
import pandas as pd
from bokeh.io import curdoc

from apps.series_view import PLOT, _rendered


def test_a_rendered_series_figure_is_freed_once_dropped():
    index = pd.date_range("2026-01-01", periods=96, freq="15min", tz="UTC")
    frame = pd.DataFrame({"loading": np.linspace(0.0, 95.0, 96)}, index=index)
    hooks = set(curdoc().callbacks._session_destroyed_callbacks)
    figure = _rendered(frame.hvplot.line(y="loading", **PLOT))
    source = figure.renderers[0].data_source
    assert list(source.data["loading"]) == list(frame["loading"])  # the figure is whole
    freed = weakref.ref(figure)
    del figure, source
    gc.collect()
    assert freed() is None  # before: HoloViews' plot, hooked on bokeh's document, kept it
    assert set(curdoc().callbacks._session_destroyed_callbacks) == hooks
