"""Scheduler: turns run/cancel/pause requests into transport operations.

It holds no task state (storage does) and does not know which transport is
running; it only forwards, in order, and keeps the transport's back-pressure.
Resume is a run of the next attempt, written to storage by the task manager
before it reaches here.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from actors.messages import Schedule
from runtime.mailbox import batches


@attrs.define
class Scheduler:
    inbox: trio.MemoryReceiveChannel[Schedule]
    transport: trio.MemorySendChannel[Any]

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for batch in batches(self.inbox):
            for message in batch:
                await self.transport.send(message)
