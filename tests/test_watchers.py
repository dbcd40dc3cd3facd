"""Watchers: who waits for a task to change, and when each is answered."""

from __future__ import annotations

from actors.states import TaskState
from actors.storage.watchers import Watchers
from actors.task import new_task
from actors.writes import Claim, Finish, apply_write
from runtime.mailbox import Reply, _Slot

MESSAGE = {"role": "user", "messageId": "m", "parts": [{"kind": "text", "text": "x"}]}


def _port() -> tuple[Reply[object], _Slot]:
    slot = _Slot()
    return Reply(slot), slot


def test_a_settled_watch_sleeps_through_the_steps_of_a_run() -> None:
    """A plain watch wakes at the claim; a settled one only at the outcome."""
    created = new_task(MESSAGE, None)
    working = apply_write(created, Claim(1))
    done = apply_write(working, Finish(1, TaskState.COMPLETED))
    watchers = Watchers()
    plain, plain_slot = _port()
    settled, settled_slot = _port()
    watchers.add(created.id, created.version, plain)
    watchers.add(created.id, created.version, settled, settled=True)

    watchers.answer(created.id, working)
    after_claim = (plain_slot.value, settled_slot.filled.is_set())
    watchers.answer(created.id, done)

    assert after_claim == (working, False)
    assert settled_slot.value == done
    assert created.id not in watchers


def test_a_vanished_task_answers_every_watch() -> None:
    """A watch on a task that does not exist is answered None, settled or not."""
    watchers = Watchers()
    port, slot = _port()
    watchers.add("gone", 0, port, settled=True)

    watchers.answer("gone", None)

    assert slot.filled.is_set() and slot.value is None
    assert list(watchers) == []


def test_only_watchers_of_the_outcome_skip_a_step() -> None:
    """A working step interests plain watchers only; a settled one interests all."""
    watchers = Watchers()
    port, _slot = _port()
    watchers.add("t", 1, port, settled=True)

    wants_working = watchers.wants("t", TaskState.WORKING)
    wants_done = watchers.wants("t", TaskState.COMPLETED)
    wants_unknown = watchers.wants("t", None)
    watchers.add("t", 1, _port()[0])

    assert (wants_working, wants_done, wants_unknown) == (False, True, True)
    assert watchers.wants("t", TaskState.WORKING)
    assert not watchers.wants("other", None)
