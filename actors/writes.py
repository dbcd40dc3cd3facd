"""Every change a task can undergo, as data, and the one pure function that
applies it.

Storages never edit a task by hand: they call `apply_write`, which checks
the expected state and attempt (compare-and-set plus fencing token) and the
state machine, then returns the new record or raises `Refused`. A late or
duplicate writer therefore loses instead of overwriting.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from actors.states import (
    CANCELABLE,
    InvalidTransition,
    TaskState,
    check_move,
)
from actors.task import Message, Task, agent_message

S = TaskState


class Refused(Exception):
    """The write does not apply to the task as it is now; nothing changed.

    `task` is the current record, so callers can answer with the real state.
    """

    def __init__(self, reason: str, task: Task | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.task = task


@attrs.frozen
class Claim:
    """Worker `owner` starts run `attempt` of a queued task."""

    attempt: int
    owner: str = ""


@attrs.frozen
class Finish:
    """A worker records the outcome of run `attempt`."""

    attempt: int
    state: TaskState
    parts: list[Message] | None = None
    artifacts: list[Message] = attrs.field(factory=list)
    error: str | None = None


@attrs.frozen
class Save:
    """The handler of run `attempt` stores progress to resume from."""

    attempt: int
    data: Any


@attrs.frozen
class Progress:
    """The handler of run `attempt` reports progress as a status message."""

    attempt: int
    text: str


@attrs.frozen
class AddArtifact:
    """The handler of run `attempt` streams out one artifact chunk."""

    attempt: int
    artifact: Message


@attrs.frozen
class Cancel:
    """End the task, queued, running or waiting."""


@attrs.frozen
class Pause:
    """Hold a queued task or interrupt a running one; no-op when suspended."""


@attrs.frozen
class Resume:
    """Queue a suspended task again as the next attempt."""


@attrs.frozen
class FollowUp:
    """A user answers a task that asked for input; it runs again."""

    message: Message


@attrs.frozen
class Lost:
    """The worker running `attempt` vanished: retry it, or fail after the limit."""

    attempt: int
    max_attempts: int


Write = (
    Claim
    | Finish
    | Save
    | Progress
    | AddArtifact
    | Cancel
    | Pause
    | Resume
    | FollowUp
    | Lost
)


def apply_write(task: Task, write: Write, now: float | None = None) -> Task:
    """The task after `write`, or `Refused` if it does not apply."""
    try:
        changes = _APPLY[type(write)](task, write)
    except InvalidTransition as exc:
        raise Refused(str(exc), task) from None
    if changes is None:
        return task
    now = time.time() if now is None else now
    return attrs.evolve(task, version=task.version + 1, updated_at=now, **changes)


def queues_run(old: Task | None, new: Task) -> bool:
    """Does storing `new` over `old` (None: a new task) need a run queued?

    Every way into `submitted` (create, resume, follow-up, a lost run's
    retry) starts a new attempt that some worker must run. Storage queues
    that run in the same step as the write, so no task can sit in
    `submitted` with nothing queued for it, whatever crashes in between.
    Comparing attempts, not states, also covers several writes applied
    at once (a pause and a resume of a queued task).
    """
    fresh = old is None or old.attempt != new.attempt
    return new.state is S.SUBMITTED and fresh


def _expect(task: Task, states: frozenset[TaskState], what: str) -> None:
    if task.state not in states:
        raise Refused(f"cannot {what} a task that is {task.state}", task)


def _fenced(task: Task, attempt: int, what: str) -> None:
    """Only the current run may write; a stale attempt is refused."""
    if task.attempt != attempt:
        raise Refused(
            f"cannot {what}: attempt {attempt} is stale (now {task.attempt})", task
        )


Changes = dict[str, Any] | None
"""The fields a write sets, or None when it changes nothing."""


def _move(task: Task, target: TaskState, **changes: Any) -> Changes:
    check_move(task.state, target)
    return {"state": target, **changes}


def _claim(task: Task, w: Claim) -> Changes:
    _fenced(task, w.attempt, "claim")
    _expect(task, frozenset({S.SUBMITTED}), "claim")
    return _move(task, S.WORKING, status_message=None, error=None, owner=w.owner)


def _finish(task: Task, w: Finish) -> Changes:
    _fenced(task, w.attempt, "finish")
    _expect(task, frozenset({S.WORKING}), "finish")
    history = task.history
    message = None
    if w.parts:
        message = agent_message(task, w.parts)
        history = (*history, message)
    return _move(
        task,
        w.state,
        history=history,
        artifacts=(*task.artifacts, *w.artifacts),
        status_message=message,
        error=w.error,
    )


def _save(task: Task, w: Save) -> Changes:
    _fenced(task, w.attempt, "save")
    _expect(task, frozenset({S.WORKING}), "save")
    return {"saved": w.data}


def _progress(task: Task, w: Progress) -> Changes:
    _fenced(task, w.attempt, "report progress")
    _expect(task, frozenset({S.WORKING}), "report progress")
    message = agent_message(task, [{"kind": "text", "text": w.text}])
    return {"status_message": message}


def _add_artifact(task: Task, w: AddArtifact) -> Changes:
    _fenced(task, w.attempt, "add an artifact")
    _expect(task, frozenset({S.WORKING}), "add an artifact")
    return {"artifacts": (*task.artifacts, w.artifact)}


def _cancel(task: Task, w: Cancel) -> Changes:
    _expect(task, CANCELABLE, "cancel")
    return _move(task, S.CANCELED, status_message=None)


def _pause(task: Task, w: Pause) -> Changes:
    if task.state is S.SUSPENDED:
        return None
    _expect(task, frozenset({S.SUBMITTED, S.WORKING}), "pause")
    return _move(task, S.SUSPENDED)


def _resume(task: Task, w: Resume) -> Changes:
    _expect(task, frozenset({S.SUSPENDED}), "resume")
    return _move(task, S.SUBMITTED, attempt=task.attempt + 1)


def _follow_up(task: Task, w: FollowUp) -> Changes:
    _expect(task, frozenset({S.INPUT_REQUIRED, S.AUTH_REQUIRED}), "follow up on")
    message = {**w.message, "taskId": task.id, "contextId": task.context_id}
    return _move(
        task,
        S.SUBMITTED,
        attempt=task.attempt + 1,
        history=(*task.history, message),
        status_message=None,
    )


def _lost(task: Task, w: Lost) -> Changes:
    _fenced(task, w.attempt, "requeue")
    _expect(task, frozenset({S.WORKING}), "requeue")
    if task.attempt >= w.max_attempts:
        reason = (
            f"worker lost while running attempt {task.attempt} "
            f"of {w.max_attempts}; giving up"
        )
        return _move(task, S.FAILED, error=reason)
    return _move(task, S.SUBMITTED, attempt=task.attempt + 1)


_APPLY: dict[type, Any] = {
    Claim: _claim,
    Finish: _finish,
    Save: _save,
    Progress: _progress,
    AddArtifact: _add_artifact,
    Cancel: _cancel,
    Pause: _pause,
    Resume: _resume,
    FollowUp: _follow_up,
    Lost: _lost,
}
