"""Reporting periods, figures and the report's Markdown and charts (no database)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from tocsin.errors import InvalidInput
from tocsin.metrics import charts, figures, periods, report
from tocsin.metrics.schemas import ClockTally, FollowThrough, Metrics, Spread


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


@pytest.mark.parametrize(
    ("text", "start", "end", "kind"),
    [
        ("2026-Q4", at(2026, 10, 1), at(2027, 1, 1), "quarter"),
        ("2026-q1", at(2026, 1, 1), at(2026, 4, 1), "quarter"),
        ("2026-11", at(2026, 11, 1), at(2026, 12, 1), "month"),
        ("2026-12", at(2026, 12, 1), at(2027, 1, 1), "month"),
        ("2026-W47", at(2026, 11, 16), at(2026, 11, 23), "week"),
        ("2026-W01", at(2025, 12, 29), at(2026, 1, 5), "week"),
        ("2026-11-22", at(2026, 11, 22), at(2026, 11, 23), "day"),
        ("2026", at(2026, 1, 1), at(2027, 1, 1), "year"),
    ],
)
def test_named_periods(text: str, start: datetime, end: datetime, kind: str) -> None:
    period = periods.parse(text)
    assert (period.start, period.end, period.kind) == (start, end, kind)


@pytest.mark.parametrize(
    "text", ["2026-Q5", "2026-13", "2026-W54", "Q4", "last week", "", "9999-Q4", "0000-01"]
)
def test_bad_periods_name_the_field_and_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        periods.parse(text, field="period")
    assert raised.value.field == "period" and "2026-Q4" in raised.value.message


def test_bounds_beyond_the_calendar_are_refused_not_crashed_on() -> None:
    with pytest.raises(InvalidInput) as raised:
        periods.instant("9999-12-31T23:59:59-01:00", end=True, field="to")
    assert raised.value.field == "to"
    assert (
        periods.window(start=None, end="0001-01-02", period=None, now=at(2026, 1, 1)).start.year
        == 1
    )


def test_a_window_from_bounds() -> None:
    now = at(2026, 12, 3, 12)
    assert periods.window(start=None, end=None, period=None, now=now).start == at(2026, 11, 3, 12)
    window = periods.window(start="2026-11-01T10:00:00+01:00", end="2026-11", period=None, now=now)
    assert (window.start, window.end) == (at(2026, 11, 1, 9), at(2026, 12, 1))
    assert periods.window(start="2026-Q4", end=None, period=None, now=now).kind == "quarter"
    with pytest.raises(InvalidInput) as raised:
        periods.window(start="2026-12-01", end="2026-11-01", period=None, now=now)
    assert raised.value.field == "to"


def test_buckets_split_a_quarter_by_iso_week_and_a_week_by_day() -> None:
    quarter = periods.buckets(periods.parse("2026-Q4"))
    assert quarter[0] == (at(2026, 10, 1), at(2026, 10, 5))  # clipped to the quarter
    assert quarter[-1][1] == at(2027, 1, 1)
    assert len(periods.buckets(periods.parse("2026-W47"))) == 7
    assert len(periods.buckets(periods.parse("2026"))) == 12


def test_figures_are_null_without_data() -> None:
    assert figures.spread([]).mean is None and figures.ratio(0, 0) is None
    spread = figures.spread([10, 20, 30, 40])
    assert (spread.mean, spread.median, spread.p90) == (25, 25, 37)


def test_durations_read_like_people_write_them() -> None:
    assert [report.duration(s) for s in (None, 42, 250, 3900, 93600)] == [
        "—",
        "42s",
        "4m 10s",
        "1h 05m",
        "1d 2h",
    ]


def test_a_chart_escapes_its_labels_and_marks_missing_values() -> None:
    svg = charts.bars("MTTR <min>", ["<script>", "b"], [None, 5.0])
    root = ET.fromstring(svg)
    assert "<script>" not in svg and root.get("aria-label") == "MTTR <min>"
    assert "—" in svg and len(root.findall("{http://www.w3.org/2000/svg}rect")) == 1


def _empty_month() -> Metrics:
    none = Spread(count=0, mean=None, median=None, p90=None)
    return Metrics(
        from_=at(2026, 11, 1),
        to=at(2026, 12, 1),
        filters={"include_drills": False},
        incidents=0,
        mttd_seconds=None,
        mtta_seconds=None,
        mttm_seconds=None,
        mttr_seconds=None,
        times={k: none for k in ("mttd", "mtta", "mttm", "mttr")},
        severity_distribution=[],
        clocks_met_ratio={},
        clocks={},
        follow_through=FollowThrough(
            review_on_time_rate=None,
            action_item_closure_rate=None,
            reviews=ClockTally(),
            action_items=ClockTally(),
        ),
        series=[],
    )


def test_an_empty_month_reports_no_data_rather_than_zero() -> None:
    built = report.build(_empty_month(), name="2026-11", kind="month")
    assert built.markdown.startswith("# Monthly incident trends: 2026-11")
    assert "| MTTA (time to acknowledge) | — | — | — |" in built.markdown
    assert "Reviews held on time: —" in built.markdown
    assert set(built.charts) == {
        f"2026-11-{n}.svg" for n in ("incidents", "mttr", "severity", "clocks")
    }
