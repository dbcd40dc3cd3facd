"""Random interleavings of task operations, checked against a model.

A hypothesis state machine sends messages, follows up, cancels, pauses and
resumes tasks, and tells running handlers to complete, fail, ask for input or
save progress. After every step it waits for the runtime to settle and checks
each task against the model: the state is the one the model predicts (so
terminal states never change), a handler runs exactly for the tasks that are
`working` and in their current attempt, and every reply agreed with the state
that followed. Runs once per mode, derandomized; set PROPERTY_EXAMPLES for more.
"""

from __future__ import annotations

import os
from typing import Any

import attrs
import trio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from actors import errors
from actors.app import Runtime
from runtime.settings import Settings
from tests.control import COMMANDS, Steered
from tests.live import LiveRuntime

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))
TERMINAL = {"completed", "failed", "canceled"}
CANCELABLE = {"working", "input-required", "suspended"}
AFTER_COMMAND = {
    "complete": "completed",
    "fail": "failed",
    "ask": "input-required",
    "save": "working",
}


@attrs.define
class Expected:
    state: str
    attempt: int


class TaskOperations(RuleBasedStateMachine):
    """Drives one shared live runtime; each example tracks only its own tasks."""

    live: LiveRuntime

    tasks = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, Expected] = {}

    @property
    def rt(self) -> Runtime:
        assert self.live.rt is not None
        return self.live.rt

    @rule(target=tasks)
    def send(self) -> str:
        task = self.live.call(self.rt.run_task, "hello")
        assert task["status"]["state"] == "submitted"
        self.model[task["id"]] = Expected("working", 1)
        return task["id"]

    @rule(task_id=tasks)
    def follow_up(self, task_id: str) -> None:
        expected = self.model[task_id]
        reply = self._try(self.rt.run_task, "more", task_id=task_id)
        if expected.state == "input-required":
            assert reply["status"]["state"] == "submitted"
            self.model[task_id] = Expected("working", expected.attempt + 1)
        else:
            assert isinstance(reply, errors.UnsupportedOperation), reply

    @rule(task_id=tasks)
    def cancel(self, task_id: str) -> None:
        expected = self.model[task_id]
        reply = self._try(self.rt.cancel_task, task_id)
        if expected.state in CANCELABLE:
            assert reply["status"]["state"] == "canceled"
            expected.state = "canceled"
        else:
            assert isinstance(reply, errors.TaskNotCancelable), reply

    @rule(task_id=tasks)
    def pause(self, task_id: str) -> None:
        expected = self.model[task_id]
        reply = self._try(self.rt.pause_task, task_id)
        if expected.state in ("working", "suspended"):
            assert reply["status"]["state"] == "suspended"
            expected.state = "suspended"
        else:
            assert isinstance(reply, errors.TaskNotPausable), reply

    @rule(task_id=tasks)
    def resume(self, task_id: str) -> None:
        expected = self.model[task_id]
        reply = self._try(self.rt.resume_task, task_id)
        if expected.state == "suspended":
            assert reply["status"]["state"] == "submitted"
            assert reply["metadata"]["attempt"] == expected.attempt + 1
            self.model[task_id] = Expected("working", expected.attempt + 1)
        else:
            assert isinstance(reply, errors.TaskNotResumable), reply

    @rule(task_id=tasks, command=st.sampled_from(COMMANDS))
    def handler_does(self, task_id: str, command: str) -> None:
        expected = self.model[task_id]
        if expected.state != "working":
            return
        self.tell(task_id, command)
        expected.state = AFTER_COMMAND[command]

    def tell(self, task_id: str, command: str) -> None:
        self.live.call_sync(self.live.steered.tell, task_id, command)

    @invariant()
    def runtime_matches_model(self) -> None:
        self.live.call(settle, self.rt, self.live.steered, self.model)

    def teardown(self) -> None:
        for task_id, expected in self.model.items():
            if expected.state not in TERMINAL:
                self.live.call(self.rt.cancel_task, task_id)
        self.live.call(
            settle,
            self.rt,
            self.live.steered,
            {
                task_id: Expected("canceled", e.attempt)
                if e.state not in TERMINAL
                else e
                for task_id, e in self.model.items()
            },
        )

    def _try(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def attempt() -> Any:
            try:
                return await fn(*args, **kwargs)
            except errors.RpcError as exc:
                return exc

        return self.live.call(attempt)


async def settle(rt: Runtime, steered: Steered, model: dict[str, Expected]) -> None:
    """Wait until every task and handler matches the model, or fail saying how."""
    try:
        with trio.fail_after(15):
            for task_id, expected in model.items():
                await _settle_one(rt, steered, task_id, expected)
    except trio.TooSlowError:
        actual = {i: (await rt.get_task(i))["status"]["state"] for i in model}
        seen = {task_id for task_id, _attempt in steered.started}
        others = {i: (await rt.get_task(i))["status"]["state"] for i in seen}
        raise AssertionError(
            f"runtime did not reach the model: model={model} actual={actual} "
            f"running={ {k: v[0] for k, v in steered.running.items()} } "
            f"pool={rt.pool.running() if rt.pool else None} others={others}"
        ) from None


async def _settle_one(
    rt: Runtime, steered: Steered, task_id: str, expected: Expected
) -> None:
    while True:
        task = await rt.get_task(task_id)
        if _matches(task, steered, expected):
            return
        async with trio.open_nursery() as nursery:

            async def changed(wait: Any, *args: Any) -> None:
                await wait(*args)
                nursery.cancel_scope.cancel()

            nursery.start_soon(
                changed, rt.wait_task, task_id, task["metadata"]["version"], 5
            )
            nursery.start_soon(changed, steered.changed.wait)


def _matches(task: dict[str, Any], steered: Steered, expected: Expected) -> bool:
    running = steered.running.get(task["id"])
    if expected.state == "working":
        handler_ok = running is not None and running[0] == expected.attempt
    else:
        handler_ok = running is None
    return (
        task["status"]["state"] == expected.state
        and task["metadata"]["attempt"] == expected.attempt
        and handler_ok
    )


def machine_settings(examples: int, steps: int) -> settings:
    """Deterministic runs: derandomized, no example database, no deadline."""
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def test_operations_follow_the_model(mode_settings: Settings) -> None:
    """Any interleaving of operations keeps the runtime equal to the model."""
    with LiveRuntime(mode_settings, worker_concurrency=256) as live:
        TaskOperations.live = live
        run_state_machine_as_test(
            TaskOperations,
            settings=machine_settings(EXAMPLES, steps=10),
        )
