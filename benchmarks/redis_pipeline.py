"""Redis pipeline: one submitting process, worker processes, no HTTP.

This process submits N no-op tasks through the Python API in the `api`
role and waits until all are completed; the handlers run in separate
worker processes. Baselines: (a) a bare loop paying one RPUSH and one
BLPOP per item, (b) the same moving 100 items per round trip.
"""

from __future__ import annotations

import os
import time
import uuid

import trio

from actors.app import open_runtime
from benchmarks import agent, redis_baselines, workers
from benchmarks.harness import Row, describe, emit, is_quick, rate, unavailable
from benchmarks.memory_pipeline import submit_all
from benchmarks.redis_server import RedisServer, running_redis

WORKLOAD = "redis pipeline"


async def _submit_and_finish(url: str, prefix: str, count: int) -> float:
    """Seconds from the first submit to the last completion of `count` tasks.

    A warm-up round first proves a worker is up, so start-up is not timed.
    """
    settings = agent.redis_settings(url, prefix, "api")
    async with open_runtime(
        agent.config, agent.noop, settings=settings, serve_http=False
    ) as rt:
        warm = await submit_all(rt, 32)
        await agent.wait_all_completed(rt, warm, 60)

        started = time.perf_counter()
        ids = await submit_all(rt, count)
        await agent.wait_all_completed(rt, ids, 600)
        return time.perf_counter() - started


def pipeline_rate(
    server: RedisServer, prefix: str, pids: list[int], count: int
) -> tuple[float, str, float]:
    """Tasks/s with the worker processes `pids` serving `prefix`.

    Also says whether Redis or the cores were the limit, and how much of
    the machine's cores the processes used.
    """
    workers.wait_until_live(server.url, prefix, len(pids))
    watched = [server.pid, os.getpid(), *pids]
    before = workers.cpu_seconds(watched)
    started = time.perf_counter()
    seconds = trio.run(_submit_and_finish, server.url, prefix, count)
    wall = time.perf_counter() - started
    after = workers.cpu_seconds(watched)
    note = workers.saturation(before, after, wall, server.pid)
    return rate(count, seconds), note, workers.busy_share(before, after, wall)


def new_prefix() -> str:
    """A key prefix of its own, so runs never see each other's tasks."""
    return f"bench-{uuid.uuid4().hex[:8]}"


def measure(server: RedisServer, quick: bool) -> list[Row]:
    tasks = 100 if quick else 5_000
    single = redis_baselines.run(redis_baselines.one_by_one, server.url, tasks)
    batch = redis_baselines.run(redis_baselines.batched, server.url, tasks * 5)
    prefix = new_prefix()
    with workers.running_workers(server.url, prefix, 1) as pids:
        tasks_per_s, note, _busy = pipeline_rate(server, prefix, pids, tasks)
    return [
        Row(WORKLOAD, "tasks/s", tasks_per_s, "tasks/s", note=note),
        _vs(tasks_per_s, single, "vs (a) RPUSH+BLPOP per item", ">= 5x", 5.0),
        _vs(tasks_per_s, batch, "vs (b) batches of 100", ">= 0.3x", 0.3),
    ]


def _vs(value: float, baseline: float, metric: str, target: str, need: float) -> Row:
    ratio = value / baseline
    return Row(
        WORKLOAD, metric, value, "tasks/s", baseline, ratio, target, ratio >= need
    )


def main() -> None:
    quick = is_quick()
    try:
        with running_redis() as server:
            rows = measure(server, quick)
    except Exception as exc:  # noqa: BLE001 - reported as an n/a row
        reason = f"redis mode unavailable: {describe(exc)}"
        rows = [unavailable(WORKLOAD, "tasks/s", reason, ">= 5x (a), >= 0.3x (b)")]
    emit(rows)


if __name__ == "__main__":
    main()
