"""`python -m bench [NAME|all] [--quick] [--backend sqlite|postgresql] [--workers N]`
(NAME: see BENCHMARKS)."""

from __future__ import annotations

import argparse
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from bench import (
    burst_drain,
    common,
    crash,
    declare,
    engine,
    escalation,
    ingest,
    metrics,
    paging,
    statuspage,
    storm,
)
from bench import console as console_bench
from bench import sqlite_writers as sqlite_writers_bench
from bench.common import BACKENDS, console, load_average, machine, write_results

BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "declare": declare.run,
    "engine": engine.run,
    "ingest": ingest.run,
    "paging": paging.run,
    "escalation": escalation.run,
    "burst_drain": burst_drain.run,
    "crash": crash.run,
    "statuspage": statuspage.run,
    "console": console_bench.run,
    "metrics": metrics.run,
    "storm": storm.run,
    "sqlite_writers": sqlite_writers_bench.run,
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="?", default="all", choices=["all", *BENCHMARKS])
    parser.add_argument("--quick", action="store_true", help="a smaller run (about two minutes)")
    parser.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="run on this database only (repeatable; default: both)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="serving processes of each `tocsin serve` started (declare, paging, storm; default 1)",
    )
    return parser.parse_args()


def _options(run: Callable[..., dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """--workers goes only to the benchmarks whose run() takes it."""
    if "workers" in inspect.signature(run).parameters:
        return {"workers": args.workers}
    return {}


def main() -> None:
    args = _arguments()
    logging.basicConfig(level=logging.WARNING)
    backends = tuple(args.backend or BACKENDS)
    common.serve_workers = args.workers
    names = list(BENCHMARKS) if args.which == "all" else [args.which]
    about = machine()
    console.print(f"[bold]machine[/]: {about}")
    for name in names:
        started, load_before = time.monotonic(), load_average()
        payload = BENCHMARKS[name](backends, quick=args.quick, **_options(BENCHMARKS[name], args))
        payload.update(
            machine=about,
            quick=args.quick,
            workers=args.workers,
            seconds=round(time.monotonic() - started, 1),
            load_average_before=load_before,
            load_average_after=load_average(),
        )
        path = write_results(name, payload)
        console.print(f"{name}: {payload['seconds']} s, results in {path}")


if __name__ == "__main__":
    main()
