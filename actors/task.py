"""The task record and its A2A wire form.

A task is immutable; every change makes a new record with `version` one
higher, so watchers can ask for "anything newer than version N".
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import attrs

from actors.states import TaskState

Message = dict[str, Any]


@attrs.frozen
class Task:
    """One task. `attempt` is the fencing token of the current run."""

    id: str
    context_id: str
    state: TaskState
    attempt: int = 1
    version: int = 1
    history: tuple[Message, ...] = ()
    artifacts: tuple[Message, ...] = ()
    status_message: Message | None = None
    error: str | None = None
    saved: Any = None
    owner: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


def new_id() -> str:
    return str(uuid.uuid4())


def new_task(message: Message, context_id: str | None) -> Task:
    """A fresh `submitted` task whose history starts with `message`."""
    now = time.time()
    task_id = new_id()
    context_id = context_id or new_id()
    first = {**message, "taskId": task_id, "contextId": context_id}
    return Task(
        id=task_id,
        context_id=context_id,
        state=TaskState.SUBMITTED,
        history=(first,),
        created_at=now,
        updated_at=now,
    )


def agent_message(task: Task, parts: list[Message]) -> Message:
    """A message from the agent in this task's conversation."""
    return {
        "kind": "message",
        "role": "agent",
        "messageId": new_id(),
        "parts": parts,
        "taskId": task.id,
        "contextId": task.context_id,
    }


def to_wire(task: Task, history_length: int | None = None) -> dict[str, Any]:
    """The A2A `Task` object; `history_length` keeps the last N messages."""
    status: dict[str, Any] = {
        "state": str(task.state),
        "timestamp": _iso(task.updated_at),
    }
    if task.status_message is not None:
        status["message"] = task.status_message

    history = list(task.history)
    if history_length is not None:
        history = history[-history_length:] if history_length > 0 else []

    metadata: dict[str, Any] = {"attempt": task.attempt, "version": task.version}
    if task.error is not None:
        metadata["error"] = task.error

    return {
        "kind": "task",
        "id": task.id,
        "contextId": task.context_id,
        "status": status,
        "history": history,
        "artifacts": list(task.artifacts),
        "metadata": metadata,
    }


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")
