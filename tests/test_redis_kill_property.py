"""The operations state machine across processes, with kill -9 of workers.

The test process runs the API role; two worker processes run a handler the
test steers over TCP. Besides every rule of `TaskOperations`, a rule kills a
worker with SIGKILL and starts a replacement: the model then expects each
task that worker was running to run again as the next attempt, or to fail
once the attempt limit is reached. Each kill waits out a heartbeat TTL, so
this machine runs fewer examples than the in-process one (KILL_EXAMPLES).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.stateful import rule, run_state_machine_as_test

from tests.conftest import redis_settings
from tests.live import LiveRuntime
from tests.redis_server import RedisServer
from tests.remote_control import RemoteSteered
from tests.test_operations_property import (
    Expected,
    TaskOperations,
    machine_settings,
)
from tests.test_redis_processes import Proc, deployment_env

EXAMPLES = int(os.environ.get("KILL_EXAMPLES", "30"))
MAX_ATTEMPTS = 3
TARGET = "tests/agents/remote_steered.py:handler"


class Workers:
    """Two worker processes; a killed one is replaced at once."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs = [self._start() for _ in range(2)]

    def _start(self) -> Proc:
        args = ["worker", TARGET, "--concurrency", "64"]
        return Proc(args, self.env)

    def kill(self, index: int) -> int:
        victim = self.procs[index]
        victim.kill()
        self.procs[index] = self._start()
        return victim.pid

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()


class OperationsWithKills(TaskOperations):
    workers: Workers

    def tell(self, task_id: str, command: str) -> None:
        self.live.call(self.live.steered.tell, task_id, command)

    @rule(task_id=TaskOperations.tasks)
    def kill_its_worker(self, task_id: str) -> None:
        """SIGKILL the worker process running `task_id`'s handler, if any."""
        steered: RemoteSteered = self.live.steered
        if task_id not in steered.running:
            return
        pid = steered.running[task_id][1]
        index = next(i for i, p in enumerate(self.workers.procs) if p.pid == pid)
        lost = [t for t, (_a, p, _s) in steered.running.items() if p == pid]

        self.workers.kill(index)

        for lost_id in lost:
            expected = self.model[lost_id]
            if expected.attempt >= MAX_ATTEMPTS:
                self.model[lost_id] = Expected("failed", expected.attempt)
            else:
                self.model[lost_id] = Expected("working", expected.attempt + 1)


@pytest.fixture
def kill_env(redis_server: RedisServer, tmp_path: Path) -> Iterator[dict[str, str]]:
    yield deployment_env(
        redis_server.url,
        tmp_path,
        WORKER_HEARTBEAT_TTL="1",
        TASK_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
    )


def test_operations_and_worker_kills_follow_the_model(
    kill_env: dict[str, str], redis_server: RedisServer
) -> None:
    """Kill -9 of workers between any operations loses no task and no run."""
    steered = RemoteSteered()
    api = redis_settings(
        redis_server.url,
        REDIS_PREFIX=kill_env["REDIS_PREFIX"],
        AGENT_ROLE="api",
        TASK_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
    )
    with LiveRuntime(api, steered) as live:
        workers = Workers({**kill_env, "STEER_PORT": str(steered.port)})
        try:
            for proc in workers.procs:
                live.call(proc.ready)
            OperationsWithKills.live = live
            OperationsWithKills.workers = workers
            run_state_machine_as_test(
                OperationsWithKills,
                settings=machine_settings(EXAMPLES, steps=8),
            )
        finally:
            workers.close()
