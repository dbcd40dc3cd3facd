"""The typed messages that travel between the task-domain actors.

Requests that need an answer carry a `Reply`; the rest are told.
Operations (`RunTask`, `CancelTask`, `PauseTask`) are the only messages that
cross process boundaries, through a transport.
"""

from __future__ import annotations

from typing import Any

import attrs

from actors.states import TaskState
from actors.task import Task
from actors.writes import Write
from runtime.mailbox import Reply

# --- operations: scheduler -> transport -> workers --------------------------


@attrs.frozen
class RunTask:
    """Run attempt `attempt` of a task."""

    task_id: str
    attempt: int


@attrs.frozen
class CancelTask:
    """Stop the handler of a running task; its state is already written.

    Only runs of `attempt` or earlier stop (0: any), so a late signal never
    hits the attempt that a resume started since.
    """

    task_id: str
    attempt: int = 0


@attrs.frozen
class PauseTask:
    """Interrupt the handler of a running task; its state is already written."""

    task_id: str
    attempt: int = 0


Control = CancelTask | PauseTask


# --- scheduler and transport inboxes -----------------------------------------


@attrs.frozen
class Schedule:
    """Queue `op`; `reply` (if any) gets None once it is safely queued."""

    op: RunTask | Control
    reply: Reply[None] | None = None


@attrs.frozen
class Delivery:
    """An operation handed to the worker pool; `token` acknowledges it.

    `worker` names the worker it was handed to, which becomes the owner of
    the run it starts. `record` is the task as the transport read it with
    the operation, in the storage's own encoding: a hint that spares the
    claim a read, never trusted (the claim is still a compare-and-set).
    """

    op: RunTask
    token: Any = None
    worker: str = ""
    record: bytes | None = None


@attrs.frozen
class IsAlive:
    """Does worker `worker_id` still beat? Answers a bool."""

    worker_id: str
    reply: Reply[bool]


@attrs.frozen
class Ack:
    """The outcome of a delivery is stored; the transport may forget it.

    With `dead`, the delivery can never run (it names no stored task): a
    durable transport sets it aside with that reason instead. With
    `handoff`, it is a copy of a run that worker `handoff` still runs: a
    durable transport moves it to that worker's keeping, so it comes back
    if that worker dies before finishing.
    """

    token: Any
    dead: str | None = None
    handoff: str | None = None


# --- storage inbox ------------------------------------------------------------


@attrs.frozen
class CreateTask:
    task: Task
    reply: Reply[Task]


@attrs.frozen
class GetTask:
    """Answer the task, or None if there is no such task."""

    task_id: str
    reply: Reply[Task | None]


@attrs.frozen
class ListQuery:
    context_id: str | None = None
    state: TaskState | None = None
    offset: int = 0
    limit: int = 50


@attrs.frozen
class TaskPage:
    tasks: list[Task]
    total: int
    next_offset: int | None


@attrs.frozen
class ListTasks:
    query: ListQuery
    reply: Reply[TaskPage]


@attrs.frozen
class WriteTask:
    """Apply `write`; the reply is the new task or fails with `Refused`.

    `hint` is a recent record of the task (see `Delivery.record`) that a
    storage may start from instead of reading.
    """

    task_id: str
    write: Write
    reply: Reply[Task]
    hint: bytes | None = None


@attrs.frozen
class WatchTask:
    """Answer once the task's version is above `after_version`.

    With `settled`, only once it has also settled (ended, or waits for the
    user). A task that does not exist is answered at once, as None.
    """

    task_id: str
    after_version: int
    reply: Reply[Task | None]
    settled: bool = False


StorageRequest = CreateTask | GetTask | ListTasks | WriteTask | WatchTask
