"""The *Now* page's series figures carry only the models they need (issue 17: each session's
figures are built, sent and indexed on the server's one event loop)."""

import hvplot.pandas  # noqa: F401  (registers .hvplot)
import numpy as np
import pandas as pd
from bokeh.models import DatetimeTicker, FixedTicker, HoverTool

from apps.series_view import PLOT, _rendered, lean_series, time_ticks

HOUR_MS = 3_600_000.0


def test_time_ticks_fall_on_whole_hours_of_the_window():
    day = pd.Timestamp("2016-07-14 00:00")
    # a day at 15 min: 00:00, 06:00, 12:00, 18:00 [ms since the epoch], hand-computed
    # (2016-07-14 00:00 is 16,996 days after 1970-01-01)
    midnight = 16_996 * 24 * HOUR_MS
    assert time_ticks(day, day + pd.Timedelta("23h45min")) == [
        midnight + h * HOUR_MS for h in (0, 6, 12, 18)]
    # a window starting off the hour begins at the next tick
    start = pd.Timestamp("2016-07-14 01:10")
    assert time_ticks(start, start + pd.Timedelta(hours=20))[0] == midnight + 6 * HOUR_MS
    # a week: every other day, at midnight
    ticks = time_ticks(day - pd.Timedelta(days=3), day + pd.Timedelta("3D23h45min"))
    assert np.diff(ticks).tolist() == [48 * HOUR_MS] * 3 and len(ticks) == 4


def test_a_lean_series_figure_keeps_its_data_and_hover_and_drops_the_rest():
    index = pd.date_range("2016-07-14", periods=96, freq="15min")
    frame = pd.DataFrame({"loading": np.linspace(0.0, 95.0, 96)}, index=index)
    figure = _rendered(frame.hvplot.line(y="loading", **PLOT))
    before = len(list(figure.references()))
    assert isinstance(figure.xaxis[0].ticker, DatetimeTicker)  # bokeh's composite of tickers
    lean_series(figure, index[0], index[-1])
    after = len(list(figure.references()))
    assert after <= before - 20, (before, after)
    assert isinstance(figure.xaxis[0].ticker, FixedTicker)
    assert figure.xaxis[0].ticker.ticks == time_ticks(index[0], index[-1])
    assert figure.xgrid[0].ticker is figure.xaxis[0].ticker
    assert [type(t) for t in figure.toolbar.tools] == [HoverTool]
    assert list(figure.renderers[0].data_source.data["loading"]) == list(frame["loading"])
