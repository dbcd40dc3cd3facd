"""Scale-out: Redis mode with 1, 2 and 4 worker processes.

The same pipeline as `redis_pipeline`; the ratio is tasks/s with N workers
over tasks/s with one. On a 2-core machine running Redis, the submitter
and the workers on the same cores, the cores saturate early, so each row
says how busy the cores and Redis were.
"""

from __future__ import annotations

from contextlib import ExitStack

import attrs

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
            value, note, busy = pipeline_rate(server, prefix, pids, tasks)
            if not rows:
                one_busy = busy
            rows.append(_row(count, value, rows[0].value if rows else None, note))
    rows[1] = _judge(rows[1], one_busy)
    return rows


def _row(count: int, value: float, one: float | None, note: str) -> Row:
    name = f"{count} worker" + ("s" if count > 1 else "")
    if one is None:
        return Row(WORKLOAD, name, value, "tasks/s", note=note)
    return Row(WORKLOAD, name, value, "tasks/s", one, value / one, note=note)


def _judge(two: Row, one_busy: float) -> Row:
    """The 2-worker target holds until the cores saturate, so say which.

    If one worker already kept the machine's cores `one_busy` busy, no
    second process can add more than 1 / one_busy; below the target that
    is the cores' limit, not the runtime's, and the row says so.
    """
    target = f">= {TARGET_TWO:g}x 1 worker"
    ceiling = 1 / one_busy if one_busy > 0 else float("inf")
    if ceiling < TARGET_TWO:
        note = (
            f"{two.note}; cores saturated: 1 worker kept them {one_busy:.0%} "
            f"busy, so at most {ceiling:.2f}x fits on this machine"
        )
        return attrs.evolve(two, target=target, met=None, note=note)
    assert two.ratio is not None
    return attrs.evolve(two, target=target, met=two.ratio >= TARGET_TWO)


def main() -> None:
    try:
        rows = measure(is_quick())
    except Exception as exc:  # noqa: BLE001 - reported as an n/a row
        reason = f"redis mode unavailable: {describe(exc)}"
        rows = [unavailable(WORKLOAD, "2 workers", reason, ">= 1.6x 1 worker")]
    emit(rows)


if __name__ == "__main__":
    main()
