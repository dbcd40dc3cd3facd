"""Supervision: restart with backoff, escalation, ordered shutdown.

Deterministic: trio's autojump clock moves time only when every task is
blocked, so backoff delays are exact and nothing sleeps for real.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from runtime.errors import ConfigError
from runtime.supervisor import ChildSpec, Escalation, RestartPolicy, Supervisor


class Crasher:
    """Starts, then crashes `times` times before running for good."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.starts: list[float] = []

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.starts.append(trio.current_time())
        task_status.started()
        if len(self.starts) <= self.times:
            raise RuntimeError(f"crash {len(self.starts)}")
        await trio.sleep_forever()


class Recorder:
    """A child that notes when it started and stopped."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.stop_requested = trio.Event()

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.log.append(f"start {self.name}")
        task_status.started()
        try:
            await self.stop_requested.wait()
        finally:
            self.log.append(f"stop {self.name}")

    def spec(self, graceful: bool = True) -> ChildSpec:
        stop = self.stop_requested.set if graceful else None
        return ChildSpec(self.name, self.run, stop=stop)


POLICY = RestartPolicy(
    max_restarts=3, window=60, backoff_initial=1, backoff_max=3, shutdown_grace=10
)


async def test_crashed_child_restarts_with_doubling_capped_backoff(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Three crashes are followed by restarts 1, 2 and 3 (capped) seconds later."""
    child = Crasher(times=3)
    sup = Supervisor("root", [ChildSpec("crasher", child.run)], POLICY)

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(100)
        sup.stop()

    gaps = [b - a for a, b in zip(child.starts, child.starts[1:], strict=False)]
    assert gaps == pytest.approx([1, 2, 3])


async def test_too_many_crashes_escalate_and_stop_siblings(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A child that keeps crashing makes the supervisor stop the rest and raise."""
    log: list[str] = []
    sibling = Recorder("sibling", log)
    child = Crasher(times=1000)
    sup = Supervisor("root", [sibling.spec(), ChildSpec("crasher", child.run)], POLICY)

    with pytest.raises(Escalation, match="crasher"):
        await sup.run()

    assert len(child.starts) == POLICY.max_restarts + 1
    assert log == ["start sibling", "stop sibling"]


async def test_child_failing_to_start_escalates_at_start(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A child that never starts aborts the supervisor's own start."""

    async def broken(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        raise OSError("port in use")

    sup = Supervisor("root", [ChildSpec("broken", broken)], POLICY)

    with pytest.raises(Escalation, match="broken"):
        await sup.run()


async def test_shutdown_runs_in_reverse_start_order(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Children stop last-started first, each after the previous one ended."""
    log: list[str] = []
    children = [Recorder(name, log) for name in ("storage", "workers", "http")]
    sup = Supervisor("root", [c.spec() for c in children], POLICY)

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.stop()

    assert log == [
        "start storage",
        "start workers",
        "start http",
        "stop http",
        "stop workers",
        "stop storage",
    ]


async def test_child_ignoring_stop_is_cancelled_after_grace(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A child that does not stop by itself is cancelled when grace runs out."""
    log: list[str] = []
    stubborn = Recorder("stubborn", log)
    spec = ChildSpec("stubborn", stubborn.run, stop=lambda: None)
    sup = Supervisor("root", [spec], POLICY)

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        began = trio.current_time()
        sup.stop()

    assert trio.current_time() - began == pytest.approx(POLICY.shutdown_grace)
    assert log == ["start stubborn", "stop stubborn"]


async def test_nested_supervisor_is_a_child(autojump_clock: trio.abc.Clock) -> None:
    """A supervisor can supervise another one; stop reaches the grandchildren."""
    log: list[str] = []
    inner = Supervisor("inner", [Recorder("leaf", log).spec()], POLICY)
    outer = Supervisor("outer", [ChildSpec("inner", inner.run, stop=inner.stop)])

    async with trio.open_nursery() as nursery:
        await nursery.start(outer.run)
        outer.stop()

    assert log == ["start leaf", "stop leaf"]


async def test_config_error_escalates_at_once_as_itself(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A child failing on configuration is not retried; the error surfaces."""
    starts: list[float] = []

    async def misconfigured(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        starts.append(trio.current_time())
        raise ConfigError("REDIS_URL=redis://u:***@h/0: bad credentials")

    sup = Supervisor("root", [ChildSpec("redis", misconfigured)], POLICY)

    with pytest.raises(ConfigError, match="bad credentials"):
        await sup.run()

    assert len(starts) == 1
