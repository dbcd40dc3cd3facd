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
import math
from typing import Any

import attrs
import trio

from actors.context import TaskContext
from actors.handlers import Handler, invoke
from actors.messages import Ack, Control, Delivery, IsAlive, RunTask
from actors.outcome import artifact, failure, finish_for, finish_streamed, to_parts
from actors.states import TaskState
from actors.storage.client import StorageInbox, get_task, write_task
from actors.task import Task
from actors.writes import AddArtifact, Claim, Finish, Lost, Refused
from runtime.mailbox import AskTimeout, ask

log = logging.getLogger(__name__)


@attrs.define
class _Run:
    attempt: int
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    interrupted: bool = False
    claimed: bool = False
    # Why the delivery can never run (no such task), if it cannot.
    dead: str | None = None
    # The live worker that runs this very attempt, when this is a copy.
    handoff: str | None = None
    # A copy that our own running attempt holds: it is not ours to ack.
    keep: bool = False


@attrs.define
class WorkerPool:
    deliveries: trio.MemoryReceiveChannel[Delivery]
    control: trio.MemoryReceiveChannel[Control]
    storage: StorageInbox
    transport: trio.MemorySendChannel[Any]
    handler: Handler
    concurrency: int = 8
    task_timeout: float | None = None
    max_attempts: int = 3
    recheck_interval: float = 1.0
    # Keyed by (task id, attempt delivered): a resumed attempt may start
    # while the interrupted one is still unwinding its cleanup.
    _running: dict[tuple[str, int], _Run] = attrs.field(factory=dict)
    # XXX: an abandoned sync handler keeps its thread until it returns, as
    # Python cannot stop a thread; an unbounded limiter keeps such leftovers
    # from starving new runs (live handlers are bounded by `concurrency`).
    _threads: trio.CapacityLimiter = attrs.field(
        factory=lambda: trio.CapacityLimiter(math.inf)
    )
    _intake: trio.CancelScope = attrs.field(factory=trio.CancelScope)

    def stop(self) -> None:
        """Stop taking deliveries; runs in hand go on to their end."""
        self._intake.cancel()

    def running(self) -> dict[str, int]:
        """Task id -> attempt of every handler running now."""
        latest: dict[str, int] = {}
        for (task_id, _delivered), run in self._running.items():
            latest[task_id] = max(run.attempt, latest.get(task_id, 0))
        return latest

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        if not self._intake.cancel_called:
            # A cancel scope serves one `with` block; a restart needs a new one.
            self._intake = trio.CancelScope()
        async with trio.open_nursery() as control:
            control.start_soon(self._control_loop)
            control.start_soon(self._recheck_loop)
            async with trio.open_nursery() as runs:
                task_status.started()
                await self._intake_loop(runs)
            control.cancel_scope.cancel()

    async def _intake_loop(self, runs: trio.Nursery) -> None:
        slots = trio.Semaphore(self.concurrency)
        with self._intake:
            while True:
                try:
                    slots.acquire_nowait()  # the receive is the checkpoint
                except trio.WouldBlock:
                    await slots.acquire()
                try:
                    delivery = await self.deliveries.receive()
                except (trio.EndOfChannel, trio.Cancelled):
                    slots.release()
                    raise
                runs.start_soon(self._execute, delivery, slots)

    async def _control_loop(self) -> None:
        async for op in self.control:
            for (task_id, _delivered), run in list(self._running.items()):
                if task_id == op.task_id and run.attempt <= (op.attempt or run.attempt):
                    _interrupt(run)

    async def _recheck_loop(self) -> None:
        """Re-read the state of every running task now and then.

        Cancel and pause signals can be lost (a dropped pub/sub message, a
        restarted transport); this bounds the delay of such a stop to one
        interval instead of forever.
        """
        while True:
            await trio.sleep(self.recheck_interval)
            claimed = [(k[0], r) for k, r in self._running.items() if r.claimed]
            for task_id, run in claimed:
                try:
                    task = await get_task(self.storage, task_id)
                except (ConnectionError, OSError, AskTimeout):
                    break  # storage unreachable (Redis down): next interval
                if _superseded(task, run.attempt):
                    _interrupt(run)

    async def _execute(self, delivery: Delivery, slots: trio.Semaphore) -> None:
        op = delivery.op
        key = (op.task_id, op.attempt)
        try:
            if key in self._running:
                # The same entry our own running attempt holds (the reaper
                # took us for dead and we claimed it back): acking it now
                # would leave nothing to requeue if we die before finishing.
                return
            run = _Run(op.attempt)
            self._running[key] = run
            try:
                with run.scope:
                    await self._attempt(delivery, run)
            finally:
                del self._running[key]
            if run.interrupted and run.claimed:
                await self._give_back_if_still_ours(op.task_id, run)
            if not run.scope.cancelled_caught or run.interrupted:
                await self._settle(delivery, run)
        except Exception as exc:  # noqa: BLE001 - one bad run must not stop the pool
            log.error("run crashed task_id=%s error=%r", op.task_id, exc)
        finally:
            slots.release()

    async def _give_back_if_still_ours(self, task_id: str, run: _Run) -> None:
        """After a stop signal, make sure the stop was real.

        A signal that storage does not back (one published by hand, or one
        meant for an attempt that was since retried) must not leave the task
        `working` with nothing running it: such a run is written off as lost,
        which queues the next attempt in the same step.
        """
        task = await get_task(self.storage, task_id)
        if _superseded(task, run.attempt):
            return
        log.warning("stop signal without a stored intent task_id=%s", task_id)
        try:
            await write_task(
                self.storage, task_id, Lost(run.attempt, self.max_attempts)
            )
        except Refused:
            pass

    async def _attempt(self, delivery: Delivery, run: _Run) -> None:
        task = await self._claim(delivery, run)
        if task is None:
            return
        run.attempt, run.claimed = task.attempt, True

        finish = await self._outcome(task, run)
        try:
            await write_task(self.storage, task.id, finish)
        except Refused:
            pass

    async def _claim(self, delivery: Delivery, run: _Run) -> Task | None:
        """Take the run, or None when it is stale, cancelled or paused.

        A run of a task that does not exist is marked dead on `run`.

        A run that storage shows as `working` in this very attempt was handed
        out before and its worker is gone (a durable transport redelivered
        it): it is written off as lost, which fails it at the attempt limit
        or puts it back in `submitted` as the next attempt. Storage queues
        that attempt in the same step, so its run can be lost again and
        still come back; this worker claims it like any other. A copy of a
        run whose owner still beats is a duplicate, not a loss: it is kept by
        or handed to that owner. A run this very worker owns with nothing
        running it here is its own claim whose answer was lost: it is run.
        """
        op = delivery.op
        claim = Claim(op.attempt, delivery.worker)
        try:
            return await write_task(self.storage, op.task_id, claim, delivery.record)
        except Refused as exc:
            task = exc.task
            if task is None:
                run.dead = f"unknown task {op.task_id!r}"
                return None
            if not _was_lost(task, op):
                return None

        if delivery.worker and task.owner == delivery.worker:
            if self._runs_of(task.id) > 1:
                run.keep = True  # our own live run holds this attempt
                return None
            return task  # our claim took effect; only its answer was lost
        if await self._owner_beats(task):
            run.handoff = task.owner
            return None

        lost = Lost(op.attempt, self.max_attempts)
        try:
            await write_task(self.storage, op.task_id, lost)
        except Refused:
            pass
        return None

    def _runs_of(self, task_id: str) -> int:
        return sum(1 for key in self._running if key[0] == task_id)

    async def _owner_beats(self, task: Task) -> bool:
        """Does the worker that claimed the task (another one) still beat?"""
        if not task.owner:
            return False
        owner = task.owner
        alive: bool = await ask(self.transport, lambda r: IsAlive(owner, r))
        return alive

    async def _outcome(self, task: Task, run: _Run) -> Finish:
        """Run the handler and turn what happened into the finishing write.

        Whatever the handler raises is its outcome, BaseExceptions included
        (a handler's SystemExit must not stop the process), except the
        cancellation that our own scope or a shutdown delivers.
        """
        context = TaskContext(
            task.id, task.context_id, task.attempt, task.saved, self.storage
        )

        async def emit(item: Any) -> None:
            chunk = AddArtifact(task.attempt, artifact(to_parts(item)))
            await write_task(self.storage, task.id, chunk)

        try:
            with trio.fail_after(self.task_timeout or math.inf):
                messages = list(task.history)
                result = await invoke(
                    self.handler, messages, context, emit, self._threads
                )
        except trio.TooSlowError:
            return failure(f"timed out after {self.task_timeout}s", task.attempt)
        except trio.Cancelled:
            if run.scope.cancel_called:
                raise
            # A handler raised Cancelled of its own: a failure like any other.
            # If a shutdown is what cancelled it, the finishing write is
            # cancelled in turn, so nothing is recorded.
            return failure("handler raised trio.Cancelled", task.attempt)
        except BaseException as exc:  # noqa: BLE001 - the handler's error is its outcome
            return failure(describe(exc), task.attempt)

        try:
            if self.handler.kind in ("gen", "asyncgen"):
                return finish_streamed(result, task.attempt)
            return finish_for(result, task.attempt)
        except TypeError as exc:
            return failure(str(exc), task.attempt)

    async def _settle(self, delivery: Delivery, run: _Run) -> None:
        """Tell the transport what became of a delivery that is done with."""
        if delivery.token is None or run.keep:
            return
        await self.transport.send(Ack(delivery.token, run.dead, run.handoff))


def _interrupt(run: _Run) -> None:
    run.interrupted = True
    run.scope.cancel()


def describe(exc: BaseException) -> str:
    """`Type: message`, even for exceptions whose `__str__` itself fails."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the failure
        text = "<unprintable message>"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _was_lost(task: Task, op: RunTask) -> bool:
    return task.state is TaskState.WORKING and task.attempt == op.attempt


def _superseded(task: Task | None, attempt: int) -> bool:
    """True when the run of `attempt` no longer owns the task."""
    if task is None:
        return True
    return task.state is not TaskState.WORKING or task.attempt != attempt
