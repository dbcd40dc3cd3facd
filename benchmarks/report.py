"""The table, as plain text for the terminal and as Markdown for the file.

RESULTS.md carries the machine's cores and the versions of everything
that moves the numbers, so a reader can tell whether two files compare.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
from collections.abc import Sequence
from importlib.metadata import version

from benchmarks.harness import Row

HEADER = (
    "workload",
    "metric",
    "value",
    "unit",
    "baseline",
    "ratio",
    "target",
    "met",
    "note",
)


def environment() -> dict[str, str]:
    """Cores, Python, trio, redis-py and Redis versions, and the date."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "trio": version("trio"),
        "redis-py": version("redis"),
        "redis": _redis_server_version(),
        "hypercorn": version("hypercorn"),
        "starlette": version("starlette"),
    }


def _redis_server_version() -> str:
    try:
        from benchmarks.redis_server import redis_version, running_redis

        with running_redis() as server:
            return redis_version(server.url)
    except Exception as exc:  # noqa: BLE001 - the file still gets written
        return f"unknown ({exc})"


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cells(row: Row) -> tuple[str, ...]:
    met = {True: "yes", False: "NO", None: ""}[row.met]
    ratio = "" if row.ratio is None else _number(row.ratio) + "x"
    return (
        row.workload,
        row.metric,
        _number(row.value),
        row.unit,
        _number(row.baseline) if row.baseline is not None else "",
        ratio,
        row.target,
        met,
        row.note,
    )


def render_table(rows: Sequence[Row]) -> str:
    """A fixed-width table for the terminal."""
    lines = [HEADER, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    )


def render_markdown(
    rows: Sequence[Row], env: dict[str, str], seconds: float, quick: bool
) -> str:
    """RESULTS.md: the environment, then the same table in Markdown."""
    out = ["# Benchmark results", ""]
    out.append(
        "Produced by `make bench` (`python -m benchmarks`)"
        + (" --quick" if quick else "")
        + "."
    )
    out.append(
        f"Every ratio is against a baseline measured in the same run ({seconds:.0f} s)."
    )
    out.append("")
    out += [f"- {key}: {value}" for key, value in env.items()]
    out += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        cells = (cell.replace("|", "\\|") for cell in _cells(row))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
