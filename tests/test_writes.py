"""Fenced compare-and-set writes: late or stale writers lose."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.states import TERMINAL, TaskState, can_move
from actors.task import new_task
from actors.writes import (
    Cancel,
    Claim,
    Finish,
    FollowUp,
    Lost,
    Pause,
    Refused,
    Resume,
    Save,
    apply_write,
    queues_run,
)

S = TaskState
MESSAGE = {"role": "user", "messageId": "m", "parts": [{"kind": "text", "text": "x"}]}


def working(attempt: int = 1):
    task = new_task(MESSAGE, None)
    return apply_write(task, Claim(attempt)) if attempt == 1 else task


def test_claim_then_finish_completes_and_bumps_version() -> None:
    """A claimed run's outcome is recorded and each write raises the version."""
    task = new_task(MESSAGE, None)

    claimed = apply_write(task, Claim(1))
    done = apply_write(claimed, Finish(1, S.COMPLETED, [{"kind": "text", "text": "y"}]))

    assert (claimed.state, done.state) == (S.WORKING, S.COMPLETED)
    assert done.version == task.version + 2
    assert done.history[-1]["parts"][0]["text"] == "y"


def test_stale_attempt_cannot_write() -> None:
    """After pause and resume, the first run's outcome is refused."""
    task = apply_write(apply_write(working(), Pause()), Resume())

    with pytest.raises(Refused):
        apply_write(task, Finish(1, S.COMPLETED))
    with pytest.raises(Refused):
        apply_write(task, Save(1, {"step": 3}))

    assert task.attempt == 2


def test_finish_after_cancel_is_refused() -> None:
    """A handler that ends after cancel records nothing."""
    task = apply_write(working(), Cancel())

    with pytest.raises(Refused) as caught:
        apply_write(task, Finish(1, S.COMPLETED))

    assert caught.value.task is task


def test_pause_of_suspended_is_a_no_op() -> None:
    """Pausing twice answers the same record, unchanged."""
    task = apply_write(working(), Pause())

    assert apply_write(task, Pause()) is task


def test_follow_up_needs_a_task_waiting_for_input() -> None:
    """Only input-required/auth-required tasks take a follow-up message."""
    waiting = apply_write(working(), Finish(1, S.INPUT_REQUIRED))

    again = apply_write(waiting, FollowUp(MESSAGE))

    assert (again.state, again.attempt, len(again.history)) == (S.SUBMITTED, 2, 2)
    with pytest.raises(Refused):
        apply_write(working(), FollowUp(MESSAGE))


def test_lost_worker_retries_then_fails_with_reason() -> None:
    """A lost run is queued again, and fails once the attempt limit is hit."""
    retried = apply_write(working(), Lost(1, max_attempts=2))
    second = apply_write(retried, Claim(2))
    failed = apply_write(second, Lost(2, max_attempts=2))

    assert (retried.state, retried.attempt) == (S.SUBMITTED, 2)
    assert failed.state is S.FAILED and "worker lost" in (failed.error or "")


WRITES = st.sampled_from(
    [Claim(1), Claim(2), Cancel(), Pause(), Resume(), FollowUp(MESSAGE)]
    + [Finish(a, s) for a in (1, 2) for s in (S.COMPLETED, S.FAILED, S.INPUT_REQUIRED)]
)


@given(st.lists(WRITES, max_size=12))
def test_any_sequence_follows_the_state_machine(writes) -> None:
    """Whatever is tried, each applied write is an allowed move, and terminal
    states are never left."""
    task = new_task(MESSAGE, None)

    for write in writes:
        try:
            after = apply_write(task, write)
        except Refused:
            continue
        if after.state != task.state:
            assert can_move(task.state, after.state)
        assert task.state not in TERMINAL or after is task
        task = after


def test_every_way_into_submitted_queues_a_run() -> None:
    """Create, resume, follow-up and a lost run's retry each need a run queued."""
    task = new_task(MESSAGE, None)
    claimed = apply_write(task, Claim(1))
    paused = apply_write(claimed, Pause())
    resumed = apply_write(paused, Resume())
    asking = apply_write(
        apply_write(resumed, Claim(2)),
        Finish(2, S.INPUT_REQUIRED, [{"kind": "text", "text": "?"}]),
    )
    answered = apply_write(asking, FollowUp(MESSAGE))
    running = apply_write(answered, Claim(3))
    retried = apply_write(running, Lost(3, 5))

    assert queues_run(None, task)
    assert queues_run(paused, resumed)
    assert queues_run(asking, answered)
    assert queues_run(running, retried)
    assert queues_run(task, resumed)
    assert not queues_run(task, claimed)
    assert not queues_run(claimed, paused)
    assert not queues_run(paused, apply_write(paused, Pause()))
