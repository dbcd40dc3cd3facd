"""Redis mode across processes: an API process, worker processes, real faults."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.app import open_runtime
from tests.conftest import AGENT, redis_settings
from tests.processes import ROOT
from tests.redis_server import RedisServer

TARGET = "examples/distributed/agent.py:handler"
TERMINAL = {"completed", "failed", "canceled", "rejected"}
READY = re.compile(r"serving (http://\S+)|worker ready")


class Proc:
    """`python -m actors.cli ARGS` with its output collected in the background."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.url: str | None = None
        self._ready = threading.Event()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "actors.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line)
            match = READY.search(line)
            if match:
                self.url = match.group(1)
                self._ready.set()
        self._ready.set()

    @property
    def pid(self) -> int:
        return self.popen.pid

    async def ready(self, timeout: float = 30) -> Proc:
        ok = await trio.to_thread.run_sync(self._ready.wait, timeout)
        assert ok and self.popen.poll() is None, "did not start:\n" + self.output
        return self

    async def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return await trio.to_thread.run_sync(lambda: self.popen.wait(timeout))

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait(10)

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def cluster_env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    return deployment_env(redis_server.url, tmp_path)


def deployment_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SCHEDULER_TYPE": "redis",
        "REDIS_URL": url,
        "REDIS_PREFIX": f"p-{uuid.uuid4().hex[:8]}",
        "HOST": "127.0.0.1",
        "PORT": "0",
        "WORKER_HEARTBEAT_INTERVAL": "0.2",
        # Long enough that a worker starved of CPU by a busy test machine is
        # not taken for dead; the kill tests shorten it.
        "WORKER_HEARTBEAT_TTL": "2",
        "RUN_LOG": str(tmp_path / "runs.log"),
        **extra,
    }


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Every process started by the test; any still alive is killed after."""
    started: list[Proc] = []
    yield started
    for proc in started:
        if proc.popen.poll() is None:
            proc.kill()


async def start(procs: list[Proc], args: list[str], env: dict[str, str]) -> Proc:
    proc = Proc(args, env)
    procs.append(proc)
    return await proc.ready()


async def deployment(
    procs: list[Proc], env: dict[str, str], workers: int = 2, concurrency: int = 8
) -> tuple[Proc, list[Proc]]:
    api = Proc(["serve", TARGET, "--role", "api"], env)
    pool = [
        Proc(["worker", TARGET, "--concurrency", str(concurrency)], env)
        for _ in range(workers)
    ]
    procs.extend([api, *pool])
    for proc in [api, *pool]:
        await proc.ready()
    return api, pool


async def send_until_running(
    client: httpx.AsyncClient, env: dict[str, str], text: str
) -> str:
    """Send one message; its task id once a worker has started running it."""
    sent = await rpc_batch(client, "message/send", [{"message": message(text)}])
    with trio.fail_after(15):
        while not runs(env):
            await trio.sleep(0.02)  # another process's run log: nothing to wait on
    return str(sent[0]["result"]["id"])


def runs(env: dict[str, str]) -> list[tuple[str, int, int]]:
    """(text, pid, attempt) of every handler run so far."""
    path = Path(env["RUN_LOG"])
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        text, pid, attempt = line.rsplit(" ", 2)
        out.append((text, int(pid), int(attempt)))
    return out


def message(text: str) -> dict[str, Any]:
    return {
        "role": "user",
        "messageId": uuid.uuid4().hex,
        "parts": [{"kind": "text", "text": text}],
    }


async def rpc_batch(
    client: httpx.AsyncClient, method: str, params: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    body = [
        {"jsonrpc": "2.0", "id": n, "method": method, "params": p}
        for n, p in enumerate(params)
    ]
    response = await client.post("/", json=body)
    replies = sorted(response.json(), key=lambda r: r["id"])
    return replies  # type: ignore[no-any-return]


async def states(client: httpx.AsyncClient, ids: list[str]) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    for chunk in range(0, len(ids), 100):
        part = [{"id": i} for i in ids[chunk : chunk + 100]]
        for reply in await rpc_batch(client, "tasks/get", part):
            tasks[reply["result"]["id"]] = reply["result"]
    return tasks


async def all_terminal(
    client: httpx.AsyncClient, ids: list[str], timeout: float = 60
) -> dict[str, Any]:
    """Poll until every task is terminal; fail naming the ones that are not."""
    tasks: dict[str, Any] = {}
    with trio.move_on_after(timeout):
        while True:
            tasks = await states(client, ids)
            if all(t["status"]["state"] in TERMINAL for t in tasks.values()):
                return tasks
            await trio.sleep(0.1)
    stuck = Counter(t["status"]["state"] for t in tasks.values())
    raise AssertionError(f"not all terminal after {timeout}s: {stuck}")


async def test_500_tasks_on_two_workers_each_run_once(
    cluster_env: dict[str, str], procs: list[Proc]
) -> None:
    """One API and two worker processes: 500 tasks, each handler run exactly once."""
    api, workers = await deployment(procs, cluster_env)
    async with httpx.AsyncClient(base_url=api.url or "", timeout=30) as client:
        ids: list[str] = []
        for batch in range(10):
            params = [{"message": message(f"t{batch * 50 + n}")} for n in range(50)]
            ids += [
                r["result"]["id"]
                for r in await rpc_batch(client, "message/send", params)
            ]
        tasks = await all_terminal(client, ids)

    codes = [await proc.terminate() for proc in [*workers, api]]
    output = "".join(proc.output for proc in [*workers, api])
    counted = Counter(text for text, _pid, _attempt in runs(cluster_env))
    assert {t["status"]["state"] for t in tasks.values()} == {"completed"}
    assert counted == Counter({f"t{n}": 1 for n in range(500)})
    assert {pid for _t, pid, _a in runs(cluster_env)} == {w.pid for w in workers}
    assert codes == [0, 0, 0]
    for leak in ("Event loop is closed", "was destroyed but it is pending", "nclosed"):
        assert leak not in output


@pytest.mark.parametrize("max_attempts", [3, 1])
async def test_killed_worker_task_runs_again_or_fails_at_the_limit(
    redis_server: RedisServer, tmp_path: Path, procs: list[Proc], max_attempts: int
) -> None:
    """kill -9 mid-task: another worker runs attempt 2, or it fails at the limit."""
    env = deployment_env(
        redis_server.url,
        tmp_path,
        TASK_MAX_ATTEMPTS=str(max_attempts),
        WORKER_HEARTBEAT_TTL="1",
    )
    api, workers = await deployment(procs, env)
    async with httpx.AsyncClient(base_url=api.url or "", timeout=30) as client:
        task_id = await send_until_running(client, env, "sleep-once:60")
        victim = next(w for w in workers if w.pid == runs(env)[0][1])
        victim.kill()
        task = (await all_terminal(client, [task_id], timeout=30))[task_id]

    survivor = next(w for w in workers if w is not victim)
    assert await survivor.terminate() == 0 and await api.terminate() == 0
    if max_attempts == 1:
        assert task["status"]["state"] == "failed"
        assert "worker lost" in task["metadata"]["error"]
        assert len(runs(env)) == 1
    else:
        assert task["status"]["state"] == "completed"
        assert task["metadata"]["attempt"] == 2
        assert runs(env)[1] == ("sleep-once:60", survivor.pid, 2)


async def test_cancel_reaches_the_worker_process_running_the_task(
    cluster_env: dict[str, str], procs: list[Proc]
) -> None:
    """tasks/cancel in the API process stops the handler in a worker process."""
    api, _workers = await deployment(procs, cluster_env, workers=1)
    raw = sync_redis(cluster_env["REDIS_URL"])
    held = f"{cluster_env['REDIS_PREFIX']}:processing:*"
    async with httpx.AsyncClient(base_url=api.url or "", timeout=30) as client:
        task_id = await send_until_running(client, cluster_env, "sleep:60")
        await rpc_batch(client, "tasks/cancel", [{"id": task_id}])
        with trio.fail_after(10):
            while any(raw.llen(key) for key in raw.keys(held)):
                await trio.sleep(0.02)
        task = (await states(client, [task_id]))[task_id]

    assert task["status"]["state"] == "canceled"
    assert len(runs(cluster_env)) == 1


def sync_redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


async def test_redis_restart_under_load_leaves_no_task_behind(
    tmp_path: Path, procs: list[Proc]
) -> None:
    """Redis killed and restarted mid-load: every accepted task ends terminal."""
    server = RedisServer(persistent=True)
    server.start()
    try:
        env = deployment_env(server.url, tmp_path)
        api, workers = await deployment(procs, env)
        accepted: list[str] = []
        refused = 0
        async with httpx.AsyncClient(base_url=api.url or "", timeout=30) as client:

            async def sender() -> None:
                nonlocal refused
                for n in range(60):
                    params = [
                        {"message": message(f"sleep:0.05 {n}.{k}")} for k in range(5)
                    ]
                    for reply in await rpc_batch(client, "message/send", params):
                        if "result" in reply:
                            accepted.append(reply["result"]["id"])
                        else:
                            refused += 1
                    await trio.sleep(0.03)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender)
                await trio.sleep(0.6)
                server.kill()
                await trio.sleep(0.8)
                server.start()
            tasks = await all_terminal(client, accepted, timeout=60)

        codes = [await proc.terminate() for proc in [*workers, api]]
        outputs = [proc.output for proc in [*workers, api]]
    finally:
        server.stop()

    assert len(accepted) > 100 and refused > 0
    assert {t["status"]["state"] for t in tasks.values()} <= {"completed", "failed"}
    assert codes == [0, 0, 0], "\n".join(outputs)


async def test_sigterm_while_idle_in_the_pop_loses_no_task(
    cluster_env: dict[str, str], procs: list[Proc]
) -> None:
    """20 times: a task pushed as an idle worker gets SIGTERM; none is lost.

    Four lanes run side by side, each on its own queue with one worker at a
    time, so every push meets exactly the worker being stopped.
    """

    async def lane(name: str) -> None:
        env = {**cluster_env, "REDIS_PREFIX": f"{cluster_env['REDIS_PREFIX']}-{name}"}
        settings = redis_settings(
            env["REDIS_URL"], REDIS_PREFIX=env["REDIS_PREFIX"], AGENT_ROLE="api"
        )
        ids = []
        api = open_runtime(AGENT, _never, settings=settings, serve_http=False)
        async with api as rt:
            for n in range(5):
                worker = await start(procs, ["worker", TARGET], env)
                ids.append((await rt.run_task(f"s{name}.{n}"))["id"])
                code = await worker.terminate()
                assert code == 0, worker.output

            last = await start(procs, ["worker", TARGET], env)
            with trio.fail_after(30):
                for task_id in ids:
                    task = await rt.get_task(task_id)
                    while task["status"]["state"] != "completed":
                        version = task["metadata"]["version"]
                        task = await rt.wait_task(task_id, version, 10)
            assert await last.terminate() == 0

    async with trio.open_nursery() as nursery:
        for name in "abcd":
            nursery.start_soon(lane, name)

    texts = {text for text, _p, _a in runs(cluster_env)}
    assert texts == {f"s{name}.{n}" for name in "abcd" for n in range(5)}


def _never(messages: list[dict[str, Any]]) -> str:
    raise AssertionError("an API-only process runs no handler")


def test_distributed_example_runs(redis_server: RedisServer) -> None:
    """examples/distributed/run.py starts an API and two workers and finishes."""
    env = {**os.environ, "REDIS_URL": redis_server.url}
    done = subprocess.run(
        [sys.executable, "examples/distributed/run.py", "20"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "completed 20 tasks" in done.stdout
    assert "exit codes [0, 0, 0]" in done.stdout


async def test_task_whose_retry_is_lost_too_runs_a_third_time(
    redis_server: RedisServer, tmp_path: Path, procs: list[Proc]
) -> None:
    """Kill the worker of attempt 1, then the worker of attempt 2: attempt 3 runs.

    The retry of a lost run is queued with the write that makes it, so losing
    the retry as well still leaves a run to claim.
    """
    env = deployment_env(
        redis_server.url, tmp_path, TASK_MAX_ATTEMPTS="3", WORKER_HEARTBEAT_TTL="1"
    )
    api, workers = await deployment(procs, env)
    async with httpx.AsyncClient(base_url=api.url or "", timeout=30) as client:
        sent = await rpc_batch(
            client, "message/send", [{"message": message("sleep-twice:60")}]
        )
        task_id = sent[0]["result"]["id"]
        for attempt in (1, 2):
            with trio.fail_after(20):
                while len(runs(env)) < attempt:
                    await trio.sleep(0.02)
            pid = runs(env)[-1][1]
            next(w for w in workers if w.pid == pid).kill()
            workers.append(await start(procs, ["worker", TARGET], env))
        task = (await all_terminal(client, [task_id], timeout=30))[task_id]

    assert task["status"]["state"] == "completed"
    assert [attempt for _text, _pid, attempt in runs(env)] == [1, 2, 3]


async def test_duplicate_entries_of_a_live_run_are_dropped(
    cluster_env: dict[str, str], procs: list[Proc]
) -> None:
    """Copies of a running task's entry neither rerun it nor write it off as lost."""
    api, _workers = await deployment(procs, cluster_env)
    raw = sync_redis(cluster_env["REDIS_URL"])
    async with httpx.AsyncClient(base_url=api.url or "", timeout=30) as client:
        task_id = await send_until_running(client, cluster_env, "sleep:1.5")
        entry = b'{"op":"run","task_id":"%s","attempt":1}' % task_id.encode()
        raw.rpush(f"{cluster_env['REDIS_PREFIX']}:tasks", *[entry] * 6)
        task = (await all_terminal(client, [task_id], timeout=30))[task_id]

    assert task["status"]["state"] == "completed"
    assert task["metadata"]["attempt"] == 1
    assert [attempt for _text, _pid, attempt in runs(cluster_env)] == [1]
