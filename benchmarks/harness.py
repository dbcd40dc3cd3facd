"""What every workload shares: the row it reports and small measuring aids.

A workload module runs in its own process (so one workload's garbage and
threads never slow the next) and prints its rows as one JSON line; the
parent collects them into the table.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs

ROWS_MARK = "BENCH-ROWS "


@attrs.frozen
class Row:
    """One line of the table: a figure, its baseline, and the target on it.

    `met` is None when the target is not a pass/fail (or could not be
    measured); `note` says what went wrong or what saturated.
    """

    workload: str
    metric: str
    value: float | None
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""


def unavailable(workload: str, metric: str, reason: str, target: str = "") -> Row:
    """The row printed when a workload cannot run (e.g. no Redis mode yet)."""
    short = " ".join(reason.split())[:120]
    return Row(workload, metric, None, "", target=target, note=f"n/a ({short})")


def describe(exc: BaseException) -> str:
    """The innermost error's type and message: nurseries wrap it in groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def emit(rows: Sequence[Row]) -> None:
    """Hand the rows to the parent process on one marked stdout line."""
    payload = [attrs.asdict(row) for row in rows]
    print(ROWS_MARK + json.dumps(payload), flush=True)


def parse_rows(output: str) -> list[Row]:
    """The rows a workload process printed, or [] if it printed none."""
    for line in reversed(output.splitlines()):
        if line.startswith(ROWS_MARK):
            return [Row(**item) for item in json.loads(line[len(ROWS_MARK) :])]
    return []


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


def is_quick() -> bool:
    return "--quick" in sys.argv[1:]


class Stopwatch:
    """Wall time of a block, in seconds, read after it ends."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.started


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.inf
