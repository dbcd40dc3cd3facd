"""Cancel, pause, resume and follow-ups act on queued and running tasks."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import trio

from actors import errors
from actors.app import Runtime, open_runtime
from runtime.settings import Settings
from tests.conftest import AGENT
from tests.control import Steered

TERMINAL = {"completed", "failed", "canceled", "rejected"}


async def wait_state(rt: Runtime, task_id: str, states: set[str]) -> dict[str, Any]:
    with trio.fail_after(20):
        while True:
            task = await rt.get_task(task_id)
            if task["status"]["state"] in states:
                return task
            await rt.wait_task(task_id, task["metadata"]["version"], 20)


def runtime(steered: Steered, settings: Settings, **config: Any) -> Any:
    return open_runtime(
        {**AGENT, **config}, steered.handler, settings=settings, serve_http=False
    )


async def test_cancel_of_queued_task_means_it_never_starts(
    mode_settings: Settings,
) -> None:
    """With the only worker busy, a queued task is canceled and never runs."""
    steered = Steered()
    async with runtime(steered, mode_settings, worker_concurrency=1) as rt:
        first = await rt.run_task("first")
        await steered.wait_running(first["id"], 1)
        queued = await rt.run_task("second")

        reply = await rt.cancel_task(queued["id"])
        steered.tell(first["id"], "complete")
        await wait_state(rt, first["id"], TERMINAL)
        final = await wait_state(rt, queued["id"], TERMINAL)

    assert reply["status"]["state"] == "canceled"
    assert final["status"]["state"] == "canceled"
    assert (queued["id"], 1) not in steered.started


async def test_cancel_of_running_task_stops_its_handler(
    mode_settings: Settings,
) -> None:
    """The handler is interrupted and nothing it does afterwards is recorded."""
    steered = Steered()
    async with runtime(steered, mode_settings) as rt:
        task = await rt.run_task("work")
        await steered.wait_running(task["id"], 1)

        reply = await rt.cancel_task(task["id"])
        with trio.fail_after(10):
            await steered.wait_stopped(task["id"])
        final = await rt.get_task(task["id"])

    assert reply["status"]["state"] == "canceled"
    assert final["status"]["state"] == "canceled"
    assert final["artifacts"] == []


async def test_cancel_racing_completion_agrees_with_final_state(
    mode_settings: Settings,
) -> None:
    """Whoever wins, the cancel reply and the stored end state agree."""
    steered = Steered()
    outcomes = set()
    async with runtime(steered, mode_settings) as rt:
        for _ in range(40):
            task = await rt.run_task("race")
            await steered.wait_running(task["id"], 1)
            steered.tell(task["id"], "complete")
            try:
                reply_state = (await rt.cancel_task(task["id"]))["status"]["state"]
            except errors.TaskNotCancelable:
                reply_state = "not-cancelable"
            final = await wait_state(rt, task["id"], TERMINAL)
            expected = {"canceled": "canceled", "not-cancelable": "completed"}
            assert final["status"]["state"] == expected[reply_state]
            outcomes.add(reply_state)

    assert outcomes <= {"canceled", "not-cancelable"}


async def test_pause_running_then_resume_continues_from_saved_progress(
    mode_settings: Settings,
) -> None:
    """A paused run stops; the resumed attempt finds what the first one saved."""
    steered = Steered()
    async with runtime(steered, mode_settings) as rt:
        task = await rt.run_task("long")
        await steered.wait_running(task["id"], 1)
        steered.tell(task["id"], "save")
        await wait_state_saved(rt, task["id"])

        paused = await rt.pause_task(task["id"])
        with trio.fail_after(10):
            await steered.wait_stopped(task["id"])
        again = await rt.pause_task(task["id"])
        resumed = await rt.resume_task(task["id"])
        await steered.wait_running(task["id"], 2)
        steered.tell(task["id"], "complete")
        final = await wait_state(rt, task["id"], TERMINAL)

    assert paused["status"]["state"] == again["status"]["state"] == "suspended"
    assert resumed["metadata"]["attempt"] == 2
    assert steered.loaded[(task["id"], 2)] == {"saves": 1}
    assert final["status"]["message"]["parts"][0]["text"] == "done 2"


async def wait_state_saved(rt: Runtime, task_id: str) -> None:
    """Wait until the task's version shows the save was stored."""
    task = await rt.get_task(task_id)
    while task["metadata"]["version"] < 3:
        task = await rt.wait_task(task_id, task["metadata"]["version"], 10)


async def test_pause_of_queued_task_holds_it_until_resume(
    mode_settings: Settings,
) -> None:
    """A queued task that is paused never runs until resumed, then runs once."""
    steered = Steered()
    async with runtime(steered, mode_settings, worker_concurrency=1) as rt:
        blocker = await rt.run_task("blocker")
        await steered.wait_running(blocker["id"], 1)
        queued = await rt.run_task("queued")
        paused = await rt.pause_task(queued["id"])
        steered.tell(blocker["id"], "complete")
        await wait_state(rt, blocker["id"], TERMINAL)
        held = await rt.get_task(queued["id"])

        await rt.resume_task(queued["id"])
        await steered.wait_running(queued["id"], 2)
        steered.tell(queued["id"], "complete")
        final = await wait_state(rt, queued["id"], TERMINAL)

    assert paused["status"]["state"] == held["status"]["state"] == "suspended"
    assert [k for k in steered.started if k[0] == queued["id"]] == [(queued["id"], 2)]
    assert final["status"]["state"] == "completed"


async def test_two_resumes_at_once_schedule_exactly_one_run(
    mode_settings: Settings,
) -> None:
    """One resume wins; the other answers not resumable."""
    steered = Steered()
    results: list[str] = []
    async with runtime(steered, mode_settings) as rt:
        task = await rt.run_task("x")
        await steered.wait_running(task["id"], 1)
        await rt.pause_task(task["id"])

        async def resume() -> None:
            try:
                await rt.resume_task(task["id"])
                results.append("ok")
            except errors.TaskNotResumable:
                results.append("refused")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(resume)
            nursery.start_soon(resume)
        await steered.wait_running(task["id"], 2)
        steered.tell(task["id"], "complete")
        await wait_state(rt, task["id"], TERMINAL)

    assert sorted(results) == ["ok", "refused"]
    assert [k for k in steered.started if k[0] == task["id"]] == [
        (task["id"], 1),
        (task["id"], 2),
    ]


async def test_terminal_tasks_refuse_pause_and_resume(mode_settings: Settings) -> None:
    """Finished tasks answer errors and do not change."""
    steered = Steered()
    async with runtime(steered, mode_settings) as rt:
        task = await rt.run_task("x")
        await steered.wait_running(task["id"], 1)
        steered.tell(task["id"], "complete")
        await wait_state(rt, task["id"], TERMINAL)

        with pytest.raises(errors.TaskNotPausable):
            await rt.pause_task(task["id"])
        with pytest.raises(errors.TaskNotResumable):
            await rt.resume_task(task["id"])
        with pytest.raises(errors.TaskNotCancelable):
            await rt.cancel_task(task["id"])
        final = await rt.get_task(task["id"])

    assert final["status"]["state"] == "completed"


async def test_follow_up_runs_a_task_waiting_for_input(mode_settings: Settings) -> None:
    """input-required takes a follow-up; terminal and unknown tasks refuse it."""
    steered = Steered()
    async with runtime(steered, mode_settings) as rt:
        task = await rt.run_task("start")
        await steered.wait_running(task["id"], 1)
        steered.tell(task["id"], "ask")
        asking = await wait_state(rt, task["id"], {"input-required"})

        await rt.run_task("here you go", task_id=task["id"])
        await steered.wait_running(task["id"], 2)
        steered.tell(task["id"], "complete")
        final = await wait_state(rt, task["id"], TERMINAL)

        with pytest.raises(errors.UnsupportedOperation):
            await rt.run_task("too late", task_id=task["id"])
        with pytest.raises(errors.TaskNotFound):
            await rt.run_task("who?", task_id="no-such-task")

    assert asking["status"]["message"]["parts"][0]["text"] == "more please"
    texts = [m["parts"][0]["text"] for m in final["history"]]
    assert texts == ["start", "more please", "here you go", "done 2"]


async def test_paused_sync_handler_is_abandoned_and_its_result_discarded(
    mode_settings: Settings,
) -> None:
    """A sync handler in a thread cannot be stopped, but its late result is lost."""
    entered, release, returning = (
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )

    def stuck(messages: list[Any]) -> str:
        entered.set()
        release.wait(30)
        returning.set()
        return "late"

    config = {**AGENT}
    async with open_runtime(config, stuck, settings=mode_settings) as rt:
        task = await rt.run_task("x")
        await trio.to_thread.run_sync(entered.wait, 10)
        paused = await rt.pause_task(task["id"])
        release.set()
        await trio.to_thread.run_sync(returning.wait, 10)
        final = await rt.get_task(task["id"])

    assert paused["status"]["state"] == final["status"]["state"] == "suspended"
    assert final["artifacts"] == []
