"""The figures the panels send: valid plotly, thresholds and markers drawn, gaps kept as gaps."""

from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go

from dashboards.charts import LEVEL_COLOURS, Chart, Marker, Series, Threshold, figure
from dashboards.models.panels import Figure

START = datetime(2026, 12, 1, 10, tzinfo=UTC)
MINUTES = [START + timedelta(minutes=i) for i in range(5)]


def test_a_time_chart_is_a_valid_plotly_figure_with_units_and_thresholds():
    built = figure(
        Chart(
            [Series("p95", MINUTES, [120, None, 180, 240, 90])],
            unit="ms",
            thresholds=[Threshold(200, "200 ms target")],
            markers=[Marker(MINUTES[3], "fired")],
        )
    )
    go.Figure(built)  # plotly's own validation accepts it back
    Figure.model_validate(built)
    trace = built["data"][0]
    assert list(trace["y"]) == [120, None, 180, 240, 90]
    assert trace["connectgaps"] is False
    assert built["layout"]["yaxis"]["ticksuffix"] == " ms"
    lines = {(s["y0"], s["y1"]) for s in built["layout"]["shapes"] if s.get("xref") == "paper"}
    assert (200, 200) in lines
    assert [a["text"] for a in built["layout"]["annotations"]] == ["200 ms target", "fired"]
    assert built["layout"]["xaxis"]["type"] == "date"
    assert built["layout"]["yaxis"]["fixedrange"] is True  # drags zoom time only


def test_stacked_bars_keep_the_colour_of_their_level():
    built = figure(
        Chart(
            [Series(level, MINUTES, [1] * 5, colour=LEVEL_COLOURS[level], kind="bar") for level in ("info", "error")],
            stacked=True,
        )  # fmt: skip
    )
    assert built["layout"]["barmode"] == "stack"
    assert [t["marker"]["color"] for t in built["data"]] == [LEVEL_COLOURS["info"], LEVEL_COLOURS["error"]]
    assert built["layout"]["showlegend"] is True


def test_percent_axes_read_as_percent():
    built = figure(Chart([Series("errors", MINUTES, [0.5] * 5)], unit="%"))
    assert built["layout"]["yaxis"]["ticksuffix"] == "%"
    assert "%{y:,.4~g}%" in built["data"][0]["hovertemplate"]
    assert built["layout"]["showlegend"] is False


def test_a_value_between_gaps_is_drawn_as_a_dot_and_the_others_are_not():
    built = figure(Chart([Series("p95", MINUTES, [120, None, 180, 240, None])]))
    assert list(built["data"][0]["marker"]["size"]) == [5, 0, 0, 0, 0]
    single = figure(Chart([Series("value", MINUTES[:1], [96])]))
    assert list(single["data"][0]["marker"]["size"]) == [5]
