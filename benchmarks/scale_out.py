"""Scale-out: Redis mode with 1, 2 and 4 worker processes.

The same pipeline as `redis_pipeline`; the ratio is tasks/s with N workers
over tasks/s with one. On a 2-core machine running Redis, the submitter
and the workers on the same cores, the cores saturate early, so each row
says how busy the cores and Redis were.
"""

from __future__ import annotations

from contextlib import ExitStack

from benchmarks import workers
from benchmarks.harness import Row, describe, emit, is_quick, unavailable
from benchmarks.redis_pipeline import new_prefix, pipeline_rate
from benchmarks.redis_server import running_redis

WORKLOAD = "scale-out"
TARGET_TWO = 1.6


def measure(quick: bool) -> list[Row]:
    """Add workers 1 → 2 → 4 on one queue, measuring at each size."""
    tasks = 60 if quick else 5_000
    rows = []
    with running_redis() as server, ExitStack() as stack:
        prefix, pids = new_prefix(), []
        # Quick mode only proves the workload runs: four more processes
        # starting on two cores would cost the test suite seconds.
        for count in (1, 2) if quick else (1, 2, 4):
            more = workers.running_workers(server.url, prefix, count - len(pids))
            pids += stack.enter_context(more)
            value, note = pipeline_rate(server, prefix, pids, tasks)
            rows.append(_row(count, value, rows[0].value if rows else None, note))
    return rows


def _row(count: int, value: float, one: float | None, note: str) -> Row:
    name = f"{count} worker" + ("s" if count > 1 else "")
    if one is None:
        return Row(WORKLOAD, name, value, "tasks/s", note=note)

    ratio = value / one
    target, met = "", None
    if count == 2:
        target, met = f">= {TARGET_TWO:g}x 1 worker", ratio >= TARGET_TWO
    return Row(WORKLOAD, name, value, "tasks/s", one, ratio, target, met, note)


def main() -> None:
    try:
        rows = measure(is_quick())
    except Exception as exc:  # noqa: BLE001 - reported as an n/a row
        reason = f"redis mode unavailable: {describe(exc)}"
        rows = [unavailable(WORKLOAD, "2 workers", reason, ">= 1.6x 1 worker")]
    emit(rows)


if __name__ == "__main__":
    main()
