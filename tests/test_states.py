"""The state machine allows exactly the moves of DESIGN §4."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.states import (
    TERMINAL,
    TRANSITIONS,
    InvalidTransition,
    TaskState,
    can_move,
    check_move,
)

S = TaskState

ALLOWED = {
    (S.SUBMITTED, S.WORKING),
    (S.SUBMITTED, S.SUSPENDED),
    (S.SUBMITTED, S.CANCELED),
    (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.FAILED),
    (S.WORKING, S.COMPLETED),
    (S.WORKING, S.FAILED),
    (S.WORKING, S.INPUT_REQUIRED),
    (S.WORKING, S.AUTH_REQUIRED),
    (S.WORKING, S.SUSPENDED),
    (S.WORKING, S.CANCELED),
    (S.WORKING, S.SUBMITTED),
    (S.INPUT_REQUIRED, S.SUBMITTED),
    (S.INPUT_REQUIRED, S.CANCELED),
    (S.AUTH_REQUIRED, S.SUBMITTED),
    (S.AUTH_REQUIRED, S.CANCELED),
    (S.SUSPENDED, S.SUBMITTED),
    (S.SUSPENDED, S.CANCELED),
}

states = st.sampled_from(list(TaskState))


@pytest.mark.parametrize(("source", "target"), sorted(ALLOWED))
def test_every_allowed_move_passes(source: TaskState, target: TaskState) -> None:
    """Each move in the design's table is accepted."""
    check_move(source, target)

    assert can_move(source, target)


@given(states, states)
def test_moves_outside_the_table_are_rejected(
    source: TaskState, target: TaskState
) -> None:
    """Any pair not in the table raises InvalidTransition naming both states."""
    if (source, target) in ALLOWED:
        return

    with pytest.raises(InvalidTransition) as caught:
        check_move(source, target)

    assert str(source) in str(caught.value) and str(target) in str(caught.value)


@given(st.sampled_from(sorted(TERMINAL)), states)
def test_terminal_states_never_change(source: TaskState, target: TaskState) -> None:
    """Nothing leaves completed, failed, canceled or rejected."""
    assert not can_move(source, target)


def test_table_covers_every_state() -> None:
    """Every state has an entry, so no lookup can miss."""
    assert set(TRANSITIONS) == set(TaskState)
