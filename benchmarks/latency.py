"""Latency at light load: one task every 10 ms, submit → handler start.

Both modes run the whole runtime in this process (role `all`), so one
clock times both ends. The Redis floor is the same spacing through a bare
RPUSH → blocked BLPOP pair: no Redis-backed queue can start work sooner.
"""

from __future__ import annotations

import time
import uuid

import attrs
import trio

from actors.app import open_runtime
from benchmarks import agent, redis_baselines
from benchmarks.harness import Row, describe, emit, is_quick, percentile, unavailable
from benchmarks.redis_server import running_redis
from runtime.settings import Settings

WORKLOAD = "latency, light load"
SPACING = 0.010
MEMORY_P99_MS = 1.0
REDIS_FLOOR_TIMES = 3.0


async def start_delays(settings: Settings, count: int) -> list[float]:
    """Seconds from each submit to its handler starting, one every SPACING."""
    agent.STARTS.clear()
    sent: dict[str, float] = {}
    ids: list[str] = []
    async with open_runtime(
        agent.config, agent.timed, settings=settings, serve_http=False
    ) as rt:

        async def submit(text: str) -> None:
            sent[text] = time.perf_counter()
            ids.append((await rt.run_task(text))["id"])

        await submit("warm-up")
        async with trio.open_nursery() as nursery:
            for index in range(count):
                await trio.sleep(SPACING)
                nursery.start_soon(submit, str(index))
        await agent.wait_all_completed(rt, ids, 60)

    return [agent.STARTS[text] - sent[text] for text in sent if text != "warm-up"]


def _rows(mode: str, delays: list[float], target: str, limit_ms: float) -> list[Row]:
    p50 = percentile(delays, 50) * 1000
    p99 = percentile(delays, 99) * 1000
    return [
        Row(WORKLOAD, f"{mode} start p50", p50, "ms"),
        Row(
            WORKLOAD, f"{mode} start p99", p99, "ms", target=target, met=p99 <= limit_ms
        ),
    ]


def memory_rows(count: int) -> list[Row]:
    delays = trio.run(start_delays, agent.memory_settings(), count)
    return _rows("memory", delays, f"<= {MEMORY_P99_MS:g} ms", MEMORY_P99_MS)


def redis_rows(count: int) -> list[Row]:
    with running_redis() as server:
        floor50, floor99 = redis_baselines.run(
            redis_baselines.wake_up, server.url, count, SPACING
        )
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        settings = agent.redis_settings(server.url, prefix)
        delays = trio.run(start_delays, settings, count)

    floor99_ms = floor99 * 1000
    rows = [
        Row(WORKLOAD, "redis floor p50 (RPUSH→BLPOP)", floor50 * 1000, "ms"),
        Row(WORKLOAD, "redis floor p99 (RPUSH→BLPOP)", floor99_ms, "ms"),
    ]
    target = f"<= {REDIS_FLOOR_TIMES:g}x floor p99"
    rows += _rows("redis", delays, target, REDIS_FLOOR_TIMES * floor99_ms)
    p99 = rows[-1].value or 0.0
    rows[-1] = attrs.evolve(rows[-1], baseline=floor99_ms, ratio=p99 / floor99_ms)
    return rows


def main() -> None:
    count = 30 if is_quick() else 1_000
    rows = memory_rows(count)
    try:
        rows += redis_rows(count)
    except Exception as exc:  # noqa: BLE001 - reported as an n/a row
        reason = f"redis mode unavailable: {describe(exc)}"
        rows.append(unavailable(WORKLOAD, "redis start p99", reason))
    emit(rows)


if __name__ == "__main__":
    main()
