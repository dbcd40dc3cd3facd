"""MemoryStorage: tasks in a dict, owned by one actor.

Fast and simple, and gone when the process exits. Watchers (blocking sends,
streams) are answered as soon as a write passes the version they saw. A
task that enters `submitted` has its run queued before anyone hears of it,
as Redis storage does in the same step as the write.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import trio

from actors.messages import (
    CreateTask,
    GetTask,
    ListQuery,
    ListTasks,
    RunTask,
    Schedule,
    StorageRequest,
    TaskPage,
    WatchTask,
    WriteTask,
)
from actors.storage.watchers import Watchers
from actors.task import Task
from actors.writes import Refused, apply_write, queues_run
from runtime.mailbox import Reply, batches

log = logging.getLogger(__name__)


@attrs.define
class MemoryStorage:
    inbox: trio.MemoryReceiveChannel[StorageRequest]
    # Where the run of a task that enters `submitted` is queued.
    transport: trio.MemorySendChannel[Any]
    _tasks: dict[str, Task] = attrs.field(factory=dict)
    _watchers: Watchers = attrs.field(factory=Watchers)

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve requests until the inbox closes. Restart-safe: state stays."""
        task_status.started()
        async for batch in batches(self.inbox):
            for request in batch:
                try:
                    await self._handle(request)
                except Exception as exc:  # noqa: BLE001 - one bad request, not all
                    log.exception("storage request failed request=%r", request)
                    request.reply.fail(exc)

    async def _handle(self, request: StorageRequest) -> None:
        match request:
            case WriteTask(task_id, write, reply):
                await self._write(task_id, write, reply)
            case GetTask(task_id, reply):
                reply.send(self._tasks.get(task_id))
            case CreateTask(task, reply):
                await self._queue_run(task)
                self._tasks[task.id] = task
                reply.send(task)
            case ListTasks(query, reply):
                reply.send(self._list(query))
            case WatchTask(task_id, after, reply, settled):
                self._watchers.add(task_id, after, reply, settled)
                self._watchers.answer(task_id, self._tasks.get(task_id))

    async def _write(self, task_id: str, write: Any, reply: Reply[Task]) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            reply.fail(Refused(f"no task {task_id}", None))
            return

        try:
            updated = apply_write(task, write)
        except Refused as exc:
            reply.fail(exc)
            return

        if queues_run(task, updated):
            # Queued first: if that fails the write is not stored either.
            await self._queue_run(updated)
        self._tasks[task_id] = updated
        reply.send(updated)
        if updated is not task:
            self._watchers.answer(task_id, updated)

    async def _queue_run(self, task: Task) -> None:
        """Queue the run of `task`'s current attempt; waits if the queue is full."""
        schedule = Schedule(RunTask(task.id, task.attempt))
        try:
            self.transport.send_nowait(schedule)
        except trio.WouldBlock:
            await self.transport.send(schedule)

    def _list(self, query: ListQuery) -> TaskPage:
        matches = [
            task
            for task in self._tasks.values()
            if (query.context_id is None or task.context_id == query.context_id)
            and (query.state is None or task.state == query.state)
        ]
        page = matches[query.offset : query.offset + query.limit]
        end = query.offset + len(page)
        return TaskPage(page, len(matches), end if end < len(matches) else None)
