"""Mapping helpers every vendor importer (PagerDuty, Opsgenie, Grafana OnCall) shares."""

from __future__ import annotations

from zoneinfo import ZoneInfo


def source_id(vendor: str, kind: str, ident: str) -> str:
    """The `source` an imported record keeps, so a second import updates it in place."""
    return f"{vendor}:{kind}:{ident}"


def zone_or_utc(zone: str | None, *, utc_aliases: tuple[str, ...] = ()) -> str:
    """The vendor's time zone name if the zone database knows it, else UTC (vendors send
    empty or retired names); `utc_aliases` (lower case) are spelled plainly "UTC"."""
    if not zone or zone.lower() in utc_aliases:
        return "UTC"
    try:
        return str(ZoneInfo(zone))
    except (ValueError, KeyError):
        return "UTC"
