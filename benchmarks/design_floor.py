"""The least a task can cost in this design, in the memory pipeline's hops.

Whatever the implementation, a task run by this runtime pays for: its own
trio task with a cancel scope (so cancel and pause stop exactly that run),
four asks of another actor (send, claim, finish, and the caller's read),
and its records (the new task, two fenced updates, two wire forms). This
times each step alone, many times over, and states it in the hops of the
same-run channel baseline, so the gap between the pipeline and this floor
is what an implementation can still win.
"""

from __future__ import annotations

import time

import trio

from actors.states import TaskState
from actors.task import new_task, to_wire
from actors.writes import Claim, Finish, apply_write

MESSAGE = {"role": "user", "messageId": "m", "parts": [{"kind": "text", "text": "x"}]}
ASKS_PER_TASK = 4
CALLERS = 32


async def run_task_seconds(count: int) -> float:
    """Seconds per spawned trio task that enters a cancel scope and yields."""

    async def run() -> None:
        with trio.CancelScope():
            await trio.lowlevel.checkpoint()

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(run)
    return (time.perf_counter() - started) / count


async def asks_seconds(count: int) -> float:
    """Seconds for ASKS_PER_TASK request/answer round trips, callers side by side."""
    send, receive = trio.open_memory_channel[trio.Event](1024)

    async def actor() -> None:
        async for answer in receive:
            answer.set()

    async def caller(share: int) -> None:
        for _ in range(share):
            answer = trio.Event()
            await send.send(answer)
            await answer.wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor)
        started = time.perf_counter()
        async with trio.open_nursery() as callers:
            for _ in range(CALLERS):
                callers.start_soon(caller, count * ASKS_PER_TASK // CALLERS)
        seconds = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    return seconds / count


def records_seconds(count: int) -> float:
    """Seconds per task for its records: create, claim, finish, two wire forms."""
    started = time.perf_counter()
    for _ in range(count):
        task = new_task(MESSAGE, None)
        done = apply_write(apply_write(task, Claim(1)), Finish(1, TaskState.COMPLETED))
        to_wire(task)
        to_wire(done)
    return (time.perf_counter() - started) / count


async def floor_seconds(count: int) -> float:
    """Seconds per task that the design's own steps cost, summed."""
    run = await run_task_seconds(count)
    asks = await asks_seconds(count)
    return run + asks + records_seconds(count)
