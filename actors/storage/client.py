"""Typed helpers for talking to whichever storage actor is running."""

from __future__ import annotations

import trio

from actors.messages import (
    CreateTask,
    GetTask,
    ListQuery,
    ListTasks,
    StorageRequest,
    TaskPage,
    WatchTask,
    WriteTask,
)
from actors.task import Task
from actors.writes import Write
from runtime.mailbox import ask

StorageInbox = trio.MemorySendChannel[StorageRequest]


async def create_task(storage: StorageInbox, task: Task) -> Task:
    return await ask(storage, lambda r: CreateTask(task, r))


async def get_task(storage: StorageInbox, task_id: str) -> Task | None:
    return await ask(storage, lambda r: GetTask(task_id, r))


async def list_tasks(storage: StorageInbox, query: ListQuery) -> TaskPage:
    return await ask(storage, lambda r: ListTasks(query, r))


async def write_task(
    storage: StorageInbox, task_id: str, write: Write, hint: bytes | None = None
) -> Task:
    """Apply `write`; raises `Refused` (with the current task) if it does not."""
    return await ask(storage, lambda r: WriteTask(task_id, write, r, hint))


async def watch_task(
    storage: StorageInbox,
    task_id: str,
    after_version: int,
    timeout: float,
    settled: bool = False,
) -> Task | None:
    """The task once its version passes `after_version` (None if it vanished).

    With `settled`, once it has also settled (see `SETTLED`).
    """
    return await ask(
        storage,
        lambda r: WatchTask(task_id, after_version, r, settled),
        timeout=timeout,
    )
