"""What the HTTP front and the Python API ask of the TaskManager."""

from __future__ import annotations

from typing import Any

import attrs

from actors.messages import ListQuery, TaskPage
from actors.task import Message, Task
from runtime.mailbox import Reply


@attrs.frozen
class SendMessage:
    """Start a task, or continue one that asked for input (`task_id`)."""

    message: Message
    reply: Reply[Task]
    task_id: str | None = None
    context_id: str | None = None
    blocking: bool = False


@attrs.frozen
class FetchTask:
    task_id: str
    reply: Reply[Task]


@attrs.frozen
class FetchTasks:
    query: ListQuery
    reply: Reply[TaskPage]


@attrs.frozen
class CancelRequest:
    task_id: str
    reply: Reply[Task]


@attrs.frozen
class PauseRequest:
    task_id: str
    reply: Reply[Task]


@attrs.frozen
class ResumeRequest:
    task_id: str
    reply: Reply[Task]


@attrs.frozen
class WaitTask:
    """Answer once the task's version passes `after_version` or time runs out."""

    task_id: str
    after_version: int
    timeout: float
    reply: Reply[Task]


ManagerRequest = (
    SendMessage
    | FetchTask
    | FetchTasks
    | CancelRequest
    | PauseRequest
    | ResumeRequest
    | WaitTask
)

Result = Any
