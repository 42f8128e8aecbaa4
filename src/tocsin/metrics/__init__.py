"""Metrics: MTTx, volume, clocks met and follow-through over a period; reports, charts and the
Prometheus exporter. It reads across the domains below it and writes nothing."""
