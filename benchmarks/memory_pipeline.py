"""Memory pipeline: no-op tasks through the Python API until all completed.

Baseline: items per second through one trio memory channel of the inbox
size the runtime uses. In memory mode a task costs the channel hops it
takes (plus the work between them), so baseline / tasks-per-second reads
as "hops per task"; the target is at most 10.
"""

from __future__ import annotations

from typing import Any

import trio

from actors.app import open_runtime
from benchmarks import agent, design_floor
from benchmarks.harness import Row, Stopwatch, emit, is_quick, rate
from runtime.mailbox import DEFAULT_CAPACITY

SUBMITTERS = 32
TARGET_HOPS = 10.0


async def channel_rate(items: int) -> float:
    """Items per second from one sender to one receiver over one channel."""
    send, receive = trio.open_memory_channel[int](DEFAULT_CAPACITY)

    async def produce() -> None:
        async with send:
            for item in range(items):
                await send.send(item)

    with Stopwatch() as clock:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            async with receive:
                async for _ in receive:
                    pass
    return rate(items, clock.seconds)


async def submit_all(rt: Any, count: int) -> list[str]:
    """Submit `count` tasks from SUBMITTERS concurrent callers; their ids."""
    ids: list[str] = []
    per_caller, extra = divmod(count, SUBMITTERS)

    async def caller(share: int) -> None:
        for _ in range(share):
            task = await rt.run_task("x")
            ids.append(task["id"])

    async with trio.open_nursery() as nursery:
        for index in range(SUBMITTERS):
            nursery.start_soon(caller, per_caller + (index < extra))
    return ids


async def runtime_rate(count: int) -> float:
    """Tasks per second from the first submit to the last completion."""
    async with open_runtime(
        agent.config, agent.noop, settings=agent.memory_settings(), serve_http=False
    ) as rt:
        warm = await submit_all(rt, SUBMITTERS)
        await agent.wait_all_completed(rt, warm, 30)

        with Stopwatch() as clock:
            ids = await submit_all(rt, count)
            await agent.wait_all_completed(rt, ids, 300)
    return rate(count, clock.seconds)


async def main() -> None:
    tasks = 200 if is_quick() else 10_000
    baseline = await channel_rate(tasks * 10)
    tasks_per_s = await runtime_rate(tasks)
    hops = baseline / tasks_per_s
    floor = baseline * await design_floor.floor_seconds(tasks)
    emit(
        [
            Row("memory pipeline", "tasks/s", tasks_per_s, "tasks/s", baseline),
            Row(
                "memory pipeline",
                "design floor, hops per task",
                floor,
                "hops",
                baseline,
                floor,
                note="a run's trio task and cancel scope, 4 asks, its records",
            ),
            Row(
                "memory pipeline",
                "hops per task",
                hops,
                "hops",
                baseline,
                hops,
                f"<= {TARGET_HOPS:g} hops",
                hops <= TARGET_HOPS,
            ),
        ]
    )


if __name__ == "__main__":
    trio.run(main)
