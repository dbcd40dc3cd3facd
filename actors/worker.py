"""WorkerPool: claims run operations and runs the handler, `concurrency` at once.

Each run lives in its own cancel scope so a cancel or pause signal stops
exactly that handler at its next checkpoint. Every write is fenced by the
attempt number, so the outcome of an interrupted or superseded run is
refused by storage and never recorded. A delivery is acknowledged only
after its outcome is stored (or storage said the run is not ours any more);
a run cut short by shutdown is left unacknowledged so a durable transport
hands it to another worker.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import trio

from actors.context import TaskContext
from actors.handlers import Handler, invoke
from actors.messages import Ack, Control, Delivery, RunTask
from actors.outcome import artifact, failure, finish_for, finish_streamed, to_parts
from actors.storage.client import StorageInbox, write_task
from actors.task import Task
from actors.writes import AddArtifact, Claim, Finish, Refused

log = logging.getLogger(__name__)


@attrs.define
class _Run:
    attempt: int
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    interrupted: bool = False


@attrs.define
class WorkerPool:
    deliveries: trio.MemoryReceiveChannel[Delivery]
    control: trio.MemoryReceiveChannel[Control]
    storage: StorageInbox
    transport: trio.MemorySendChannel[Any]
    handler: Handler
    concurrency: int = 8
    task_timeout: float | None = None
    _running: dict[str, _Run] = attrs.field(factory=dict)
    _intake: trio.CancelScope = attrs.field(factory=trio.CancelScope)

    def stop(self) -> None:
        """Stop taking deliveries; runs in hand go on to their end."""
        self._intake.cancel()

    def running(self) -> dict[str, int]:
        """Task id -> attempt of every handler running now."""
        return {task_id: run.attempt for task_id, run in self._running.items()}

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as control:
            control.start_soon(self._control_loop)
            async with trio.open_nursery() as runs:
                task_status.started()
                await self._intake_loop(runs)
            control.cancel_scope.cancel()

    async def _intake_loop(self, runs: trio.Nursery) -> None:
        slots = trio.Semaphore(self.concurrency)
        with self._intake:
            while True:
                await slots.acquire()
                try:
                    delivery = await self.deliveries.receive()
                except (trio.EndOfChannel, trio.Cancelled):
                    slots.release()
                    raise
                runs.start_soon(self._execute, delivery, slots)

    async def _control_loop(self) -> None:
        async for op in self.control:
            run = self._running.get(op.task_id)
            if run is not None:
                run.interrupted = True
                run.scope.cancel()

    async def _execute(self, delivery: Delivery, slots: trio.Semaphore) -> None:
        op = delivery.op
        try:
            if op.task_id in self._running:
                await self._ack(delivery)
                return
            run = _Run(op.attempt)
            self._running[op.task_id] = run
            try:
                with run.scope:
                    await self._attempt(op)
            finally:
                del self._running[op.task_id]
            if not run.scope.cancelled_caught or run.interrupted:
                await self._ack(delivery)
        except Exception as exc:  # noqa: BLE001 - one bad run must not stop the pool
            log.error("run crashed task_id=%s error=%r", op.task_id, exc)
        finally:
            slots.release()

    async def _attempt(self, op: RunTask) -> None:
        try:
            task = await write_task(self.storage, op.task_id, Claim(op.attempt))
        except Refused:
            return

        finish = await self._outcome(task)
        try:
            await write_task(self.storage, task.id, finish)
        except Refused:
            pass

    async def _outcome(self, task: Task) -> Finish:
        """Run the handler and turn what happened into the finishing write."""
        context = TaskContext(
            task.id, task.context_id, task.attempt, task.saved, self.storage
        )

        async def emit(item: Any) -> None:
            chunk = AddArtifact(task.attempt, artifact(to_parts(item)))
            await write_task(self.storage, task.id, chunk)

        try:
            with trio.fail_after(self.task_timeout or float("inf")):
                result = await invoke(self.handler, list(task.history), context, emit)
        except trio.TooSlowError:
            return failure(f"timed out after {self.task_timeout}s", task.attempt)
        except Exception as exc:  # noqa: BLE001 - the handler's error is the outcome
            return failure(f"{type(exc).__name__}: {exc}", task.attempt)

        try:
            if self.handler.kind in ("gen", "asyncgen"):
                return finish_streamed(result, task.attempt)
            return finish_for(result, task.attempt)
        except TypeError as exc:
            return failure(str(exc), task.attempt)

    async def _ack(self, delivery: Delivery) -> None:
        if delivery.token is not None:
            await self.transport.send(Ack(delivery.token))
