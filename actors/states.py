"""The task state machine: which state may follow which. Pure, no I/O.

Every storage write names the state it leaves and the one it enters; this
module is the single place that says whether that move is allowed.
"""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    SUBMITTED = "submitted"
    WORKING = "working"
    INPUT_REQUIRED = "input-required"
    AUTH_REQUIRED = "auth-required"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    REJECTED = "rejected"


S = TaskState

TERMINAL = frozenset({S.COMPLETED, S.FAILED, S.CANCELED, S.REJECTED})
"""States nothing can leave."""

INTERRUPTED = frozenset({S.INPUT_REQUIRED, S.AUTH_REQUIRED, S.SUSPENDED})
"""Open states in which no handler runs until someone acts."""

SETTLED = TERMINAL | INTERRUPTED
"""States a blocking `message/send` waits for."""

CANCELABLE = frozenset(
    {S.SUBMITTED, S.WORKING, S.INPUT_REQUIRED, S.AUTH_REQUIRED, S.SUSPENDED}
)

TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    # submitted -> failed is ours, not A2A's: a task whose run could not be
    # queued (the queue was unreachable) must not wait forever in submitted.
    S.SUBMITTED: frozenset({S.WORKING, S.SUSPENDED, S.CANCELED, S.REJECTED, S.FAILED}),
    S.WORKING: frozenset(
        {
            S.COMPLETED,
            S.FAILED,
            S.INPUT_REQUIRED,
            S.AUTH_REQUIRED,
            S.SUSPENDED,
            S.CANCELED,
            # A run whose worker was lost is queued again as a new attempt.
            S.SUBMITTED,
        }
    ),
    S.INPUT_REQUIRED: frozenset({S.SUBMITTED, S.CANCELED}),
    S.AUTH_REQUIRED: frozenset({S.SUBMITTED, S.CANCELED}),
    S.SUSPENDED: frozenset({S.SUBMITTED, S.CANCELED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
}


class InvalidTransition(ValueError):
    """A write tried a move the state machine forbids; nothing was written."""

    def __init__(self, source: TaskState, target: TaskState) -> None:
        super().__init__(f"a task cannot move from {source} to {target}")
        self.source = source
        self.target = target


def can_move(source: TaskState, target: TaskState) -> bool:
    return target in TRANSITIONS[source]


def check_move(source: TaskState, target: TaskState) -> None:
    """Raise `InvalidTransition` unless `source -> target` is allowed."""
    if not can_move(source, target):
        raise InvalidTransition(source, target)
