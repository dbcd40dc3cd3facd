"""The bare Redis floors the Redis workloads are measured against.

Plain asyncio and redis.asyncio, no runtime: what moving one item costs
when each item pays its own round trips, when items travel 100 at a
time, and how long a blocked BLPOP takes to wake after an RPUSH.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from benchmarks.harness import Stopwatch, percentile, rate

BATCH = 100
PAYLOAD = "0" * 36


async def one_by_one(url: str, items: int) -> float:
    """Items/s with one RPUSH and one BLPOP per item (baseline a)."""
    key = "bench:base:single"
    async with _client(url) as producer, _client(url) as consumer:

        async def produce() -> None:
            for _ in range(items):
                await producer.rpush(key, PAYLOAD)

        async def consume() -> None:
            for _ in range(items):
                await consumer.blpop([key], timeout=10)

        with Stopwatch() as clock:
            await asyncio.gather(produce(), consume())
    return rate(items, clock.seconds)


async def batched(url: str, items: int) -> float:
    """Items/s moved 100 at a time: pipelined RPUSH, BLMPOP with a count (b)."""
    key = "bench:base:batch"
    async with _client(url) as producer, _client(url) as consumer:

        async def produce() -> None:
            for start in range(0, items, BATCH):
                pipe = producer.pipeline(transaction=False)
                for _ in range(min(BATCH, items - start)):
                    pipe.rpush(key, PAYLOAD)
                await pipe.execute()

        async def consume() -> None:
            moved = 0
            while moved < items:
                _, got = await consumer.blmpop(
                    10, 1, key, direction="LEFT", count=BATCH
                )
                moved += len(got)

        with Stopwatch() as clock:
            await asyncio.gather(produce(), consume())
    return rate(items, clock.seconds)


async def wake_up(url: str, count: int, spacing: float) -> tuple[float, float]:
    """p50 and p99 seconds from RPUSH to the blocked BLPOP returning."""
    key = "bench:base:wake"
    delays: list[float] = []
    async with _client(url) as producer, _client(url) as consumer:

        async def consume() -> None:
            for _ in range(count):
                _, sent = await consumer.blpop([key], timeout=10)
                delays.append(time.perf_counter() - float(sent))

        async def produce() -> None:
            for _ in range(count):
                await asyncio.sleep(spacing)
                await producer.rpush(key, repr(time.perf_counter()))

        await asyncio.gather(consume(), produce())
    return percentile(delays, 50), percentile(delays, 99)


def _client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url)


def run(coro_fn, *args):  # type: ignore[no-untyped-def]
    """Run one baseline in a fresh asyncio loop (callers are trio programs)."""
    return asyncio.run(coro_fn(*args))
