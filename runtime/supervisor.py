"""Supervision: start children in order, restart crashes, stop in reverse.

A supervisor owns one trio nursery. Each child is started with
`nursery.start`, so the next child starts only once the previous one said it
is ready. A child that raises is logged once and restarted after a backoff
that doubles per crash; too many crashes inside the window escalate: the
supervisor stops its other children and raises `Escalation` to its parent.
Shutdown goes in reverse start order; each child first gets its graceful
`stop` hook and `shutdown_grace` seconds, then its cancel scope is cancelled.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from runtime.errors import ConfigError

log = logging.getLogger(__name__)

StartFn = Callable[..., Awaitable[None]]


class Escalation(RuntimeError):
    """A child crashed too often; the supervisor gave up and stopped.

    The parent decides what happens next: restart the whole subtree or stop.
    """


@attrs.frozen
class RestartPolicy:
    """How hard a supervisor tries before it escalates."""

    max_restarts: int = 5
    window: float = 30.0
    backoff_initial: float = 0.05
    backoff_max: float = 5.0
    shutdown_grace: float = 5.0


@attrs.frozen
class ChildSpec:
    """One child: `start(task_status=...)` runs it until it returns.

    `stop` asks for a graceful stop (close an inbox, stop claiming work);
    without one the child is cancelled at shutdown. A `transient` child that
    returns normally is not restarted.
    """

    name: str
    start: StartFn
    stop: Callable[[], None] | None = None
    transient: bool = False


@attrs.define
class _Child:
    spec: ChildSpec
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    done: trio.Event = attrs.field(factory=trio.Event)
    crashes: deque[float] = attrs.field(factory=deque)
    last_error: BaseException | None = None
    stopping: bool = False


@attrs.define
class Supervisor:
    """Runs `children` under one nursery; see the module docstring."""

    name: str
    children: list[ChildSpec]
    policy: RestartPolicy = RestartPolicy()
    _live: list[_Child] = attrs.field(factory=list, init=False)
    _stop: trio.Event = attrs.field(factory=trio.Event, init=False)
    _escalation: Escalation | ConfigError | None = attrs.field(default=None, init=False)

    def stop(self) -> None:
        """Ask for an orderly shutdown; `run` returns when it is done."""
        self._stop.set()

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Start every child, then supervise until `stop` or escalation.

        Cancelling `run` cancels all children at once (no ordering).
        """
        async with trio.open_nursery() as nursery:
            try:
                for spec in self.children:
                    child = _Child(spec)
                    self._live.append(child)
                    await nursery.start(self._supervise, child)
            except (Escalation, ConfigError) as exc:
                self._escalation = exc
            else:
                task_status.started()
                await self._stop.wait()

            await self._shutdown()

        if self._escalation is not None:
            raise self._escalation

    async def _shutdown(self) -> None:
        for child in reversed(self._live):
            await self._stop_child(child)

    async def _stop_child(self, child: _Child) -> None:
        child.stopping = True

        if child.spec.stop is not None:
            child.spec.stop()
            with trio.move_on_after(self.policy.shutdown_grace):
                await child.done.wait()

        child.scope.cancel()
        await child.done.wait()

    async def _supervise(self, child: _Child, task_status: Any) -> None:
        try:
            await self._keep_alive(child, task_status)
        finally:
            child.done.set()

    async def _keep_alive(self, child: _Child, task_status: Any) -> None:
        """Run the child, restarting it after crashes, until told to stop.

        `task_status.started()` is passed on only for the first start, so a
        child that keeps failing to start holds the supervisor's own start.
        """
        reported = False

        with child.scope:
            while not child.stopping:
                try:
                    async with trio.open_nursery() as inner:
                        await inner.start(child.spec.start)
                        if not reported:
                            task_status.started()
                            reported = True
                except Exception as exc:  # noqa: BLE001 - a crash is logged once
                    error = child.last_error = _unwrap(exc)
                    log.error("actor crashed name=%s error=%r", child.spec.name, error)
                    await self._after_crash(child, started=reported)
                    continue

                if child.stopping or child.spec.transient:
                    return
                log.warning("actor returned, restarting name=%s", child.spec.name)
                await self._after_crash(child, started=reported)

    async def _after_crash(self, child: _Child, started: bool) -> None:
        """Back off before the next start, or escalate after too many crashes.

        A child that never started escalates by raising, which aborts the
        supervisor's own start; a started one lets the supervisor stop its
        siblings in order first.
        """
        now = trio.current_time()
        child.crashes.append(now)
        while child.crashes and child.crashes[0] < now - self.policy.window:
            child.crashes.popleft()

        # A configuration error is not transient: restarting cannot fix it.
        hopeless = isinstance(child.last_error, ConfigError)
        if hopeless or len(child.crashes) > self.policy.max_restarts:
            escalation = self._escalate(child)
            if not started:
                raise escalation
            await trio.sleep_forever()

        attempt = len(child.crashes) - 1
        backoff = self.policy.backoff_initial * 2**attempt
        await trio.sleep(min(backoff, self.policy.backoff_max))

    def _escalate(self, child: _Child) -> Escalation | ConfigError:
        """Give up on `child`: a config error as it is, else an Escalation."""
        log.error("escalating supervisor=%s child=%s", self.name, child.spec.name)
        escalation: Escalation | ConfigError
        if isinstance(child.last_error, ConfigError):
            escalation = child.last_error
        else:
            escalation = Escalation(
                f"supervisor {self.name}: child {child.spec.name} crashed "
                f"{len(child.crashes)} times within {self.policy.window}s; "
                f"last error: {child.last_error!r}"
            )
        self._escalation = escalation
        child.stopping = True
        self._stop.set()
        return escalation


def _unwrap(exc: BaseException) -> BaseException:
    """The lone exception inside nested one-member groups, for a clear log."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
