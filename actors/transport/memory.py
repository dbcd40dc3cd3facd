"""MemoryTransport: operations pass through bounded channels in one process.

Run operations go to the worker pool's delivery channel, in order; cancel
and pause signals go to its control channel. Acknowledgements need no work
here: nothing survives the process anyway.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from actors.messages import Ack, Control, Delivery, RunTask, Schedule
from runtime.mailbox import receive_batch


@attrs.define
class MemoryTransport:
    inbox: trio.MemoryReceiveChannel[Schedule | Ack]
    deliveries: trio.MemorySendChannel[Delivery]
    control: trio.MemorySendChannel[Control]

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                batch = await receive_batch(self.inbox)
            except trio.EndOfChannel:
                return
            for message in batch:
                await self._handle(message)

    async def _handle(self, message: Schedule | Ack) -> None:
        if isinstance(message, Ack):
            return

        if isinstance(message.op, RunTask):
            await self.deliveries.send(Delivery(message.op))
        else:
            await self.control.send(message.op)

        if message.reply is not None:
            message.reply.send(None)
