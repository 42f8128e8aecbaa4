"""The weekly summary, monthly trends and quarterly analysis the runbooks ask for: Markdown
with SVG charts, written from one `Metrics` answer (pure apart from `write`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tocsin.metrics import charts
from tocsin.metrics.schemas import DEFINITIONS, ClockTally, Metrics

DAY, WEEK = timedelta(days=1), timedelta(days=7)
TITLES = {
    "week": "Weekly incident summary",
    "month": "Monthly incident trends",
    "quarter": "Quarterly incident analysis",
    "year": "Annual reliability report",
}


@dataclass(frozen=True)
class Report:
    name: str  # e.g. 2026-Q4, used in file names
    markdown: str
    charts: dict[str, str]  # file name -> SVG


def duration(seconds: float | None) -> str:
    """`1h 05m`, `4m 10s`, `2d 3h`; an em dash for no data."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.1f}%"


def build(metrics: Metrics, *, name: str, kind: str) -> Report:
    """The report for one period; `kind` (week, month, quarter, span) picks its title."""
    files = charts_for(metrics, name)
    title = TITLES.get(kind, "Incident report")
    sections = [
        f"# {title}: {name}\n",
        _period_line(metrics),
        _summary(metrics),
        _chart_links(files),
        _severity(metrics),
        _clocks(metrics),
        _follow_through(metrics),
        _incidents(metrics),
        _definitions(),
    ]
    return Report(name=name, markdown="\n".join(s for s in sections if s), charts=files)


def write(report: Report, out: Path) -> list[Path]:
    """Write the Markdown and its charts (beside it, in `charts/`); returns the paths."""
    (out / "charts").mkdir(parents=True, exist_ok=True)
    written = [out / f"report-{report.name}.md"]
    written[0].write_text(report.markdown, encoding="utf-8")
    for file_name, svg in report.charts.items():
        path = out / "charts" / file_name
        path.write_text(svg, encoding="utf-8")
        written.append(path)
    return written


def _period_line(m: Metrics) -> str:
    drills = "included" if m.filters.get("include_drills") else "left out"
    chosen = [f"{key} {_listed(value)}" for key, value in m.filters.items() if _chosen(key, value)]
    picked = f" Filters: {', '.join(chosen)}." if chosen else ""
    span = f"from {_when(m.from_)} to {_when(m.to)} (UTC)"
    return f"Incidents declared {span}; drills {drills}.{picked}\n"


def _chosen(key: str, value: object) -> bool:
    return key != "include_drills" and bool(value)


def _listed(value: object) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def _summary(m: Metrics) -> str:
    rows = [
        ("Incidents", str(m.incidents), "", ""),
        *(
            (
                label,
                duration(m.times[key].mean),
                duration(m.times[key].median),
                duration(m.times[key].p90),
            )
            for key, label in (
                ("mttd", "MTTD (time to detect)"),
                ("mtta", "MTTA (time to acknowledge)"),
                ("mttm", "MTTM (time to mitigate)"),
                ("mttr", "MTTR (time to resolve)"),
            )
        ),
    ]
    lines = ["## Summary\n", "| Figure | Mean | Median | p90 |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


def _chart_links(files: dict[str, str]) -> str:
    return "\n".join(f"![{name[:-4]}](charts/{name})" for name in files) + "\n"


def _severity(m: Metrics) -> str:
    lines = ["## Severity distribution\n", "| Severity | Incidents |", "|---|---|"]
    lines += [f"| {s.severity} | {s.count} |" for s in m.severity_distribution]
    return "\n".join(lines) + "\n"


def _clocks(m: Metrics) -> str:
    if not m.clocks:
        return "## Clocks\n\nNo clock of these incidents was met or breached.\n"
    lines = [
        "## Clocks\n",
        "| Kind | Met | Breached | Pending | Met on time |",
        "|---|---|---|---|---|",
    ]
    for kind, tally in m.clocks.items():
        ratio = percent(m.clocks_met_ratio.get(kind))
        lines.append(f"| {kind} | {tally.met} | {tally.breached} | {tally.pending} | {ratio} |")
    return "\n".join(lines) + "\n"


def _follow_through(m: Metrics) -> str:
    f = m.follow_through
    return (
        "## Follow-through\n\n"
        f"- Reviews held on time: {percent(f.review_on_time_rate)} "
        f"({f.reviews.met} on time, {f.reviews.breached} late, {f.reviews.pending} not yet due)\n"
        f"- Action items closed by their due date: {percent(f.action_item_closure_rate)} "
        f"({f.action_items.met} done, {f.action_items.breached} overdue, "
        f"{f.action_items.pending} open)\n"
    )


def _incidents(m: Metrics) -> str:
    if not m.top_incidents:
        return ""
    lines = [
        f"## Incidents (the {len(m.top_incidents)} most severe)\n",
        "| Incident | Severity | Title | MTTA | MTTR | Clocks |",
        "|---|---|---|---|---|---|",
    ]
    for row in m.top_incidents:
        title = row.title.replace("|", "\\|")
        lines.append(
            f"| {row.id} | {row.severity} | {title} | {duration(row.mtta_seconds)} | "
            f"{duration(row.mttr_seconds)} | {_clock_cell(row.clocks)} |"
        )
    return "\n".join(lines) + "\n"


def _clock_cell(clocks: dict[str, ClockTally]) -> str:
    parts = []
    for kind, tally in clocks.items():
        states = [
            f"{n} {state}"
            for state, n in (
                ("met", tally.met),
                ("breached", tally.breached),
                ("pending", tally.pending),
            )
            if n
        ]
        parts.append(f"{kind}: {', '.join(states)}")
    return "; ".join(parts) or "—"


def _definitions() -> str:
    lines = ["## Definitions\n"] + [f"- **{key}**: {text}" for key, text in DEFINITIONS.items()]
    return "\n".join(lines) + "\n"


def charts_for(m: Metrics, name: str) -> dict[str, str]:
    labels = [_bucket_label(b.start, b.end) for b in m.series]
    kinds = list(m.clocks_met_ratio)
    return {
        f"{name}-incidents.svg": charts.bars(
            "Incidents declared", labels, [b.incidents for b in m.series]
        ),
        f"{name}-mttr.svg": charts.bars(
            "MTTR (minutes)",
            labels,
            [None if b.mttr_seconds is None else b.mttr_seconds / 60 for b in m.series],
        ),
        f"{name}-severity.svg": charts.bars(
            "Incidents by severity",
            [s.severity for s in m.severity_distribution],
            [s.count for s in m.severity_distribution],
        ),
        f"{name}-clocks.svg": charts.bars(
            "Clocks met on time (%)",
            kinds,
            [None if (r := m.clocks_met_ratio[k]) is None else r * 100 for k in kinds],
        ),
    }


def _bucket_label(start: datetime, end: datetime) -> str:
    """A day by its weekday, a week by its first day, a month by its name."""
    length = end - start
    return start.strftime("%a %d" if length <= DAY else "%m-%d" if length <= WEEK else "%b %Y")
