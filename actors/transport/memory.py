"""MemoryTransport: the in-process queue between scheduler and workers.

Run operations wait in a queue of their own (like the Redis list in Redis
mode) and are fed to the worker pool's bounded delivery channel as it takes
them, so scheduling answers at once however busy the workers are; cancel
and pause signals go straight to the pool's control channel.
Acknowledgements need no work here: nothing survives the process anyway.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import attrs
import trio

from actors.messages import Ack, Control, Delivery, IsAlive, RunTask, Schedule
from runtime.mailbox import batches

log = logging.getLogger(__name__)


@attrs.define
class MemoryTransport:
    inbox: trio.MemoryReceiveChannel[Schedule | Ack | IsAlive]
    deliveries: trio.MemorySendChannel[Delivery]
    control: trio.MemorySendChannel[Control]
    _queue: deque[Delivery] = attrs.field(factory=deque)
    _queued: trio.Event = attrs.field(factory=trio.Event)

    def statistics(self) -> int:
        """How many run operations wait for a worker."""
        return len(self._queue)

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._feed)
            task_status.started()
            await self._receive()
            nursery.cancel_scope.cancel()

    async def _receive(self) -> None:
        async for batch in batches(self.inbox):
            for message in batch:
                await self._handle(message)

    async def _handle(self, message: Schedule | Ack | IsAlive) -> None:
        if isinstance(message, Ack):
            if message.dead is not None:
                # Nothing survives the process, so there is no dead list.
                log.warning("dropped a run that cannot run reason=%s", message.dead)
            return
        if isinstance(message, IsAlive):
            message.reply.send(True)  # one process: every worker is this one
            return

        if isinstance(message.op, RunTask):
            self._queue.append(Delivery(message.op))
            self._queued.set()
        else:
            await self.control.send(message.op)

        if message.reply is not None:
            message.reply.send(None)

    async def _feed(self) -> None:
        """Hand queued runs to the pool, in order, as fast as it takes them."""
        while True:
            while self._queue:
                try:
                    self.deliveries.send_nowait(self._queue[0])
                except trio.WouldBlock:
                    await self.deliveries.send(self._queue[0])
                self._queue.popleft()
            self._queued = trio.Event()
            await self._queued.wait()
