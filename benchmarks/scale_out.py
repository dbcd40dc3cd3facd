"""Scale-out: Redis mode with 1, 2 and 4 worker processes.

The same pipeline as `redis_pipeline`; the ratio is tasks/s with N workers
over tasks/s with one. On a 2-core machine running Redis, the submitter
and the workers on the same cores, the cores saturate early, so each row
says how busy the cores and Redis were.
"""

from __future__ import annotations

from benchmarks.harness import Row, emit, is_quick, unavailable
from benchmarks.redis_pipeline import pipeline_rate
from benchmarks.redis_server import running_redis

WORKLOAD = "scale-out"
TARGET_TWO = 1.6


def measure(quick: bool) -> list[Row]:
    tasks = 60 if quick else 5_000
    rows = []
    with running_redis() as server:
        one, note = pipeline_rate(server, 1, tasks)
        rows.append(Row(WORKLOAD, "1 worker", one, "tasks/s", note=note))
        for count in (2, 4):
            value, note = pipeline_rate(server, count, tasks)
            ratio = value / one
            target, met = "", None
            if count == 2:
                target, met = f">= {TARGET_TWO:g}x 1 worker", ratio >= TARGET_TWO
            rows.append(
                Row(
                    WORKLOAD,
                    f"{count} workers",
                    value,
                    "tasks/s",
                    one,
                    ratio,
                    target,
                    met,
                    note,
                )
            )
    return rows


def main() -> None:
    try:
        rows = measure(is_quick())
    except Exception as exc:  # noqa: BLE001 - reported as an n/a row
        reason = f"redis mode unavailable: {type(exc).__name__}: {exc}"
        rows = [unavailable(WORKLOAD, "2 workers", reason, ">= 1.6x 1 worker")]
    emit(rows)


if __name__ == "__main__":
    main()
