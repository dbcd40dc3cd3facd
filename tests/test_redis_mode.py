"""Redis mode inside one process: dead letters, isolation, secrets, outages."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
import redis
import trio
import trio.testing

from actors import errors
from actors.app import Runtime, open_runtime
from actors.states import TaskState
from actors.storage.client import create_task, watch_task, write_task
from actors.storage.redis import RedisStorage
from actors.task import new_task
from actors.transport.redis import Entry
from actors.writes import Claim, Finish, Pause, Refused, Resume, apply_write
from runtime.aio import open_aio_loop
from runtime.codec import encode
from runtime.errors import ConfigError
from runtime.mailbox import Reply, _Slot, open_mailbox
from runtime.redis_client import open_redis
from runtime.redis_url import parse_redis_url
from runtime.settings import Settings, load_settings
from tests.conftest import AGENT, redis_settings, running_agent
from tests.redis_server import RedisServer, make_tls_files

TERMINAL = {"completed", "failed", "canceled", "rejected"}
SECRET = "p@ss/w#rd%:?"
ENCODED = "p%40ss%2Fw%23rd%25%3A%3F"


def echo(messages: list[dict[str, Any]]) -> str:
    return "echo: " + messages[-1]["parts"][0]["text"]


def sync_client(url: str, db: int = 0, password: str | None = None) -> redis.Redis:
    port = int(url.rsplit(":", 1)[1])
    return redis.Redis(host="127.0.0.1", port=port, db=db, password=password)


async def until(check: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `check()` until it is truthy, failing after `timeout` seconds."""
    with trio.move_on_after(timeout):
        while True:
            value = check()
            if value:
                return value
            await trio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def finished(rt: Runtime, task_id: str, timeout: float = 15.0) -> dict[str, Any]:
    with trio.fail_after(timeout):
        task = await rt.get_task(task_id)
        while task["status"]["state"] not in TERMINAL:
            task = await rt.wait_task(task_id, task["metadata"]["version"], timeout)
    return task


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def _deployment(server: RedisServer) -> tuple[Settings, str, redis.Redis]:
    """Settings with a prefix of their own, the prefix, and a raw client."""
    settings = redis_settings(server.url)
    return settings, settings.redis_prefix, sync_client(server.url)


async def test_bad_entries_are_dead_lettered_and_the_worker_goes_on(
    redis_server: RedisServer,
) -> None:
    """Garbage, unknown ops, bad UTF-8, huge and unknown-task entries go to dead."""
    settings, prefix, raw = _deployment(redis_server)
    bad = [
        b"not json at all",
        encode(Entry("explode", "t-1", 1)),
        b'{"op": "run", "task_id": "\xff\xfe", "attempt": 1}',
        b"[" * 3_000_000,
        encode(Entry("run", "no-such-task", 1)),
    ]

    async with open_runtime(AGENT, echo, settings=settings, serve_http=False) as rt:
        raw.rpush(f"{prefix}:tasks", *bad)
        await until(lambda: raw.llen(f"{prefix}:dead") == len(bad), what="dead")
        task = await rt.run_task("still alive")
        done = await finished(rt, task["id"])

    dead = [r.decode(errors="replace") for r in raw.lrange(f"{prefix}:dead", 0, -1)]
    assert done["status"]["state"] == "completed"
    assert raw.llen(f"{prefix}:dead") == len(bad)
    assert any("unknown operation 'explode'" in r for r in dead)
    assert any("unknown task 'no-such-task'" in r for r in dead)
    assert sum("undecodable" in r for r in dead) == 3
    assert raw.llen(f"{prefix}:tasks") == 0


@asynccontextmanager
async def _set_aside_then_worker(
    server: RedisServer,
) -> AsyncIterator[tuple[Runtime, dict[str, Any], str, str]]:
    """A task whose run entry waits at `{prefix}:aside`, then a live worker.

    Yields the API runtime, the task, the prefix and the worker's id.
    """
    settings, prefix, raw = _deployment(server)
    api = redis_settings(server.url, REDIS_PREFIX=prefix, AGENT_ROLE="api")
    async with open_runtime(AGENT, echo, settings=api, serve_http=False) as rt:
        task = await rt.run_task("set aside")
        assert raw.lmove(f"{prefix}:tasks", f"{prefix}:aside") is not None
        async with open_runtime(AGENT, echo, settings=settings, serve_http=False):
            worker = (await until(lambda: raw.smembers(f"{prefix}:workers"))).pop()
            yield rt, task, prefix, worker.decode()


async def test_an_entry_stranded_in_a_live_workers_list_runs(
    redis_server: RedisServer,
) -> None:
    """An entry popped into our list whose reply was lost is queued again and runs."""
    async with _set_aside_then_worker(redis_server) as (rt, task, prefix, worker):
        raw = sync_client(redis_server.url)
        # As if a pop moved the entry and its reply never came back.
        raw.lmove(f"{prefix}:aside", f"{prefix}:processing:{worker}")
        done = await finished(rt, task["id"])

    assert done["status"]["state"] == "completed"
    assert raw.llen(f"{prefix}:tasks") == 0


async def test_a_copy_of_a_live_run_stays_with_the_worker_running_it(
    redis_server: RedisServer,
) -> None:
    """A copy of a running entry moves to its owner's list, not away; all settles."""
    settings, prefix, raw = _deployment(redis_server)
    worker = redis_settings(redis_server.url, REDIS_PREFIX=prefix, AGENT_ROLE="worker")
    release = trio.Event()

    async def hold(messages: list[dict[str, Any]]) -> str:
        await release.wait()
        return "done"

    async with (
        open_runtime(AGENT, hold, settings=settings, serve_http=False) as rt,
        open_runtime(AGENT, hold, settings=worker, serve_http=False),
    ):
        task = await rt.run_task("held")
        key = f"{prefix}:task:{task['id']}"
        record = await until(lambda: _working(raw.hget(key, "d")), what="working")
        entry = encode(Entry("run", task["id"], 1))
        raw.rpush(f"{prefix}:tasks", entry)  # a copy, as a reaper would push
        held = f"{prefix}:processing:{record['owner']}"
        await until(lambda: raw.lrange(held, 0, -1).count(entry) == 2, what="kept")
        release.set()
        done = await finished(rt, task["id"])
        await until(lambda: not _anywhere(raw, prefix, entry), what="settled")

    assert done["status"]["state"] == "completed"
    assert done["metadata"]["attempt"] == 1


def _working(raw: bytes | None) -> dict[str, Any] | None:
    record = orjson.loads(raw) if raw else None
    return record if record and record["state"] == "working" else None


def _anywhere(raw: redis.Redis, prefix: str, entry: bytes) -> bool:
    lists = [
        f"{prefix}:tasks",
        *(k.decode() for k in raw.keys(f"{prefix}:processing:*")),
    ]
    return any(entry in raw.lrange(name, 0, -1) for name in lists)


async def test_a_stop_signal_storage_does_not_back_runs_the_task_again(
    redis_server: RedisServer,
) -> None:
    """A pause published by hand interrupts the run, which is then retried."""
    settings, prefix, raw = _deployment(redis_server)

    async def second_time(messages: list[dict[str, Any]], context: Any) -> str:
        if context.attempt == 1:
            await trio.sleep_forever()
        return "again"

    async with open_runtime(AGENT, second_time, settings=settings) as rt:
        task = await rt.run_task("stray")
        key = f"{prefix}:task:{task['id']}"
        await until(lambda: _working(raw.hget(key, "d")), what="working")
        raw.publish(f"{prefix}:control", encode(Entry("pause", task["id"], 0)))
        done = await finished(rt, task["id"])

    assert done["status"]["state"] == "completed"
    assert done["metadata"]["attempt"] == 2


async def test_a_run_told_during_an_outage_is_pushed_once_redis_is_back(
    own_redis: RedisServer,
) -> None:
    """Memory storage with the Redis queue: a run that met an outage still runs."""
    settings = redis_settings(own_redis.url, STORAGE_TYPE="memory")
    async with open_runtime(AGENT, echo, settings=settings, serve_http=False) as rt:
        own_redis.kill()
        task = await rt.run_task("during")
        own_redis.start()
        done = await finished(rt, task["id"], timeout=30)

    assert done["status"]["state"] == "completed"


async def test_a_claim_whose_answer_was_lost_runs_in_the_same_attempt(
    redis_server: RedisServer,
) -> None:
    """A worker that finds its own claim stored, with nothing running it, runs it."""
    async with _set_aside_then_worker(redis_server) as (rt, task, prefix, worker):
        # The claim is stored as this worker's, as if its answer was lost.
        async with storages(redis_server.url, prefix) as (inbox,):
            await write_task(inbox, task["id"], Claim(1, worker))
        sync_client(redis_server.url).lmove(f"{prefix}:aside", f"{prefix}:tasks")
        done = await finished(rt, task["id"])

    assert done["status"]["state"] == "completed"
    assert done["metadata"]["attempt"] == 1


async def test_databases_do_not_see_each_other(redis_server: RedisServer) -> None:
    """A deployment on db 0 and one on db 5, same prefix, never share tasks."""
    calls: Counter[str] = Counter()

    def count(name: str) -> Any:
        def handler(messages: list[dict[str, Any]]) -> str:
            calls[name] += 1
            return name

        return handler

    zero = redis_settings(redis_server.url + "/0")
    five = load_settings(
        {
            "SCHEDULER_TYPE": "redis",
            "REDIS_URL": redis_server.url + "/5",
            "REDIS_PREFIX": zero.redis_prefix,
        }
    )
    async with (
        open_runtime(AGENT, count("zero"), settings=zero, serve_http=False) as a,
        open_runtime(AGENT, count("five"), settings=five, serve_http=False) as b,
    ):
        tasks = [await a.run_task(f"a{n}") for n in range(10)]
        for task in tasks:
            assert (await finished(a, task["id"]))["status"]["state"] == "completed"
        with pytest.raises(errors.TaskNotFound):
            await b.get_task(tasks[0]["id"])
        listed = await b.list_tasks(_all())

    assert calls == Counter({"zero": 10})
    assert listed["totalSize"] == 0


def _all() -> Any:
    from actors.messages import ListQuery

    return ListQuery()


async def test_unix_socket_url_connects(redis_server: RedisServer) -> None:
    """`unix:///path?db=2` reaches Redis through its socket, in database 2."""
    settings = redis_settings(f"unix://{redis_server.socket_path}?db=2")
    async with open_runtime(AGENT, echo, settings=settings, serve_http=False) as rt:
        task = await rt.run_task("via socket")
        done = await finished(rt, task["id"])

    key = f"{settings.redis_prefix}:task:{task['id']}"
    assert done["status"]["state"] == "completed"
    assert sync_client(redis_server.url, db=2).exists(key)


async def test_tls_verifies_the_server_certificate(tmp_path: Path) -> None:
    """rediss:// connects with the CA file, is refused without it, or unverified."""
    server = RedisServer(tls=make_tls_files(tmp_path))
    server.start()
    try:
        outcomes = {}
        for name, env in {
            "ca": {"REDIS_TLS_CA_FILE": str(tmp_path / "ca.pem")},
            "system": {},
            "none": {"REDIS_TLS_CERT_REQS": "none"},
        }.items():
            settings = redis_settings(server.url, **env)
            async with open_runtime(
                AGENT, echo, settings=settings, serve_http=False
            ) as rt:
                try:
                    task = await rt.run_task("tls")
                    outcomes[name] = (await finished(rt, task["id"]))["status"]["state"]
                except errors.Unavailable as exc:
                    outcomes[name] = "unavailable" + (
                        " (certificate)" if "CERTIFICATE" in str(exc).upper() else ""
                    )
    finally:
        server.stop()

    assert outcomes == {
        "ca": "completed",
        "system": "unavailable (certificate)",
        "none": "completed",
    }


async def test_encoded_password_connects_and_never_shows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A percent-encoded password works; raw it fails; it is never logged."""
    caplog.set_level(logging.DEBUG)
    server = RedisServer(password=SECRET)
    server.start()
    try:
        url = f"redis://:{ENCODED}@127.0.0.1:{server.port}/0"
        settings = redis_settings(url)
        async with running_agent(echo, settings) as (rt, client):
            task = await rt.run_task("secret")
            done = await finished(rt, task["id"])
            health = (await client.get("/health")).text
        with pytest.raises(ConfigError) as caught:
            redis_settings(f"redis://:{SECRET}@127.0.0.1:{server.port}/0")
    finally:
        server.stop()

    assert done["status"]["state"] == "completed"
    for text in (caplog.text, health, str(caught.value), repr(settings)):
        assert SECRET not in text and ENCODED not in text


@pytest.mark.parametrize(
    ("path", "problem"),
    [("/0", "refused the user or password"), ("/99", "database 99 does not exist")],
)
async def test_refused_login_or_missing_db_fails_at_start(
    path: str, problem: str
) -> None:
    """What no retry can fix is refused at start, without the password in it."""
    server = RedisServer(password="right")
    server.start()
    try:
        secret = "Wr0ng%40pw" if path == "/0" else "right"
        url = f"redis://:{secret}@127.0.0.1:{server.port}{path}"
        settings = redis_settings(url)
        with pytest.raises(BaseException) as caught:
            async with open_runtime(AGENT, echo, settings=settings, serve_http=False):
                pass
    finally:
        server.stop()

    error = _find(caught.value, ConfigError)
    assert problem in str(error)
    assert "Wr0ng" not in str(error) and "right" not in str(error)


def _find(error: BaseException, kind: type[BaseException]) -> BaseException:
    """The first `kind` inside (possibly nested) exception groups."""
    if isinstance(error, kind):
        return error
    for inner in getattr(error, "exceptions", ()):
        with contextlib.suppress(LookupError):
            return _find(inner, kind)
    raise LookupError(f"no {kind.__name__} in {error!r}")


async def test_outage_answers_fast_and_recovers(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis down, sends fail at once and /health says so; then all recovers."""
    caplog.set_level(logging.INFO)
    settings = redis_settings(own_redis.url)
    async with running_agent(echo, settings) as (rt, client):
        assert (await client.get("/health")).json()["redis"]["reachable"] is True
        own_redis.kill()

        with trio.fail_after(5):
            with pytest.raises(errors.Unavailable):
                await rt.run_task("while down")
        reply = await client.post(
            "/",
            json={
                "jsonrpc": "2.0",
                "id": 7,
                "method": "message/send",
                "params": {
                    "message": {
                        "role": "user",
                        "messageId": "m1",
                        "parts": [{"kind": "text", "text": "hi"}],
                    }
                },
            },
        )
        health = await until_health(client, reachable=False)

        own_redis.start()
        await until_health(client, reachable=True)
        with trio.fail_after(10):
            while True:
                # Each process notices the restart on its own schedule.
                with contextlib.suppress(errors.Unavailable):
                    task = await rt.run_task("after")
                    break
                await trio.sleep(0.05)
        done = await finished(rt, task["id"])

    assert reply.json()["error"]["code"] == errors.Unavailable.code
    assert health.status_code == 503
    assert done["status"]["state"] == "completed"
    downs = [r for r in caplog.records if "redis down" in r.getMessage()]
    assert len(downs) <= 5, [r.getMessage() for r in downs]


@asynccontextmanager
async def storages(
    url: str, prefix: str, count: int = 1, poll: float = 1.0
) -> AsyncIterator[list[Any]]:
    """The inboxes of `count` Redis storages sharing `prefix`, as processes would.

    `poll` is their fallback re-read interval for watchers.
    """
    inboxes = [open_mailbox() for _ in range(count)]
    async with (
        open_aio_loop(),
        open_redis(parse_redis_url(url)) as client,
        trio.open_nursery() as nursery,
    ):
        for inbox in inboxes:
            storage = RedisStorage(inbox.receive, client, prefix, poll_interval=poll)
            await nursery.start(storage.run)
        yield [inbox.send for inbox in inboxes]
        nursery.cancel_scope.cancel()


async def test_storage_queues_each_run_in_the_step_that_makes_it_submitted(
    redis_server: RedisServer,
) -> None:
    """A create and a resume push their run entries; a claim or pause pushes none."""
    prefix = "outbox"
    async with storages(redis_server.url, prefix) as (inbox,):
        task = await create_task(inbox, new_task(_msg("x"), None))
        after_create = sync_client(redis_server.url).lrange(f"{prefix}:tasks", 0, -1)
        await write_task(inbox, task.id, Claim(1))
        await write_task(inbox, task.id, Pause())
        resumed = await write_task(inbox, task.id, Resume())

    queued = sync_client(redis_server.url).lrange(f"{prefix}:tasks", 0, -1)
    assert after_create == [encode(Entry("run", task.id, 1))]
    assert resumed.attempt == 2
    assert queued == [
        encode(Entry("run", task.id, 1)),
        encode(Entry("run", task.id, 2)),
    ]


async def test_a_retried_create_succeeds_once(redis_server: RedisServer) -> None:
    """Creating the very same record twice (a retry) answers it and queues one run."""
    prefix = "retry"
    task = new_task(_msg("x"), None)
    other = attrs.evolve(new_task(_msg("y"), None), id=task.id)
    async with storages(redis_server.url, prefix) as (inbox,):
        first = await create_task(inbox, task)
        again = await create_task(inbox, task)
        with pytest.raises(ValueError, match="exists"):
            await create_task(inbox, other)

    queued = sync_client(redis_server.url).lrange(f"{prefix}:tasks", 0, -1)
    assert first == again == task
    assert queued == [encode(Entry("run", task.id, 1))]


async def test_a_stale_hint_never_decides_a_write(redis_server: RedisServer) -> None:
    """A claim handed the record as it was when queued is refused once paused."""
    async with storages(redis_server.url, "hint", 2) as (writer, claimer):
        task = await create_task(writer, new_task(_msg("x"), None))
        paused = await write_task(writer, task.id, Pause())
        with pytest.raises(Refused) as refused:
            await write_task(claimer, task.id, Claim(1), hint=encode(task))

    assert paused.state is TaskState.SUSPENDED
    assert refused.value.task == paused


def test_any_record_remembered_answers_the_watchers_it_satisfies() -> None:
    """A read or list that brings the outcome answers a watch, event or not.

    Events for versions already remembered are skipped, so whatever puts a
    record in the cache must answer the watchers it satisfies.
    """

    class _Scripts:
        def register(self, lua: str) -> object:
            return object()

    storage = RedisStorage(open_mailbox().receive, _Scripts())  # type: ignore[arg-type]
    task = new_task(_msg("x"), None)
    working = apply_write(task, Claim(1))
    done = apply_write(working, Finish(1, TaskState.COMPLETED))
    slot = _Slot()
    storage._watchers.add(task.id, task.version, Reply(slot), settled=True)

    storage._remember(task.id, working)
    after_working = slot.filled.is_set()
    storage._remember(task.id, done)

    assert not after_working
    assert slot.value == done


async def test_garbage_on_the_events_channel_is_ignored(
    redis_server: RedisServer,
) -> None:
    """Malformed events neither crash storage nor keep a watcher from its answer."""
    prefix = "noise"
    raw = sync_client(redis_server.url)
    async with storages(redis_server.url, prefix, 2) as (watcher, writer):
        task = await create_task(writer, new_task(_msg("x"), None))
        async with trio.open_nursery() as nursery:
            answers: list[Any] = []

            async def watch() -> None:
                answers.append(await watch_task(watcher, task.id, 1, 30, settled=True))

            nursery.start_soon(watch)
            await trio.testing.wait_all_tasks_blocked()
            for junk in (b"\xc2\xb2", b"x \xc2\xb2 working", b"", b"\xff 9" * 1000):
                raw.publish(f"{prefix}:events", junk)
            claimed = await write_task(writer, task.id, Claim(1))
            done = await write_task(writer, task.id, Finish(1, TaskState.COMPLETED))
            with trio.fail_after(10):
                while not answers:
                    await trio.testing.wait_all_tasks_blocked()

    assert claimed.state is TaskState.WORKING
    assert answers == [done]


async def test_two_storages_never_decide_on_a_stale_record(
    redis_server: RedisServer,
) -> None:
    """A storage that last saw an old record still refuses and applies correctly."""
    prefix = redis_settings(redis_server.url).redis_prefix
    async with storages(redis_server.url, prefix, 2) as (a, b):
        task = await create_task(a, new_task(_msg("x"), None))
        claimed = await write_task(b, task.id, Claim(1))

        with pytest.raises(Refused) as refused:
            await write_task(a, task.id, Claim(1))
        paused = await write_task(a, task.id, Pause())
        again = await write_task(b, task.id, Pause())

    assert claimed.state is TaskState.WORKING
    assert refused.value.task is not None
    assert refused.value.task.state is TaskState.WORKING
    assert paused.state is TaskState.SUSPENDED and paused.version == 3
    assert again.version == 3


def _msg(text: str) -> dict[str, Any]:
    return {"role": "user", "messageId": "m", "parts": [{"kind": "text", "text": text}]}


async def until_health(client: Any, reachable: bool) -> Any:
    with trio.fail_after(15):
        while True:
            response = await client.get("/health")
            if response.json()["redis"]["reachable"] is reachable:
                return response
            await trio.sleep(0.05)


async def test_health_reports_live_workers(mode_settings: Settings) -> None:
    """/health answers in both modes; in Redis mode it counts live workers."""
    async with running_agent(echo, mode_settings) as (_rt, client):
        if mode_settings.uses_redis:
            await until_health(client, reachable=True)
            with trio.fail_after(10):
                while (await client.get("/health")).json()["live_workers"] < 1:
                    await trio.sleep(0.05)
        report = (await client.get("/health")).json()

    assert report["status"] == "ok"


async def test_shutdown_leaves_nothing_behind(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping leaves no pending asyncio task, closed-loop or unclosed warning."""
    caplog.set_level(logging.DEBUG)
    settings = redis_settings(redis_server.url)
    async with open_runtime(AGENT, echo, settings=settings, serve_http=False) as rt:
        task = await rt.run_task("bye")
        await finished(rt, task["id"])

    raw = sync_client(redis_server.url)
    prefix = settings.redis_prefix
    for bad in ("Event loop is closed", "pending", "Unclosed", "never awaited"):
        assert bad not in caplog.text
    assert not raw.keys(f"{prefix}:processing:*")
    assert not raw.keys(f"{prefix}:worker:*")


async def test_a_corrupt_task_record_is_treated_as_missing(
    redis_server: RedisServer,
) -> None:
    """A record damaged by hand drops its runs and reads as not found, no loop."""
    settings = redis_settings(redis_server.url)
    prefix = settings.redis_prefix
    raw = redis.Redis.from_url(redis_server.url)
    raw.hset(f"{prefix}:task:bad", mapping={"v": 1, "d": b"{not json"})
    raw.rpush(f"{prefix}:tasks", b'{"op":"run","task_id":"bad","attempt":1}')

    async with open_runtime(AGENT, lambda m: "ok", settings=settings) as rt:
        good = await rt.run_task("x", blocking=True)
        with pytest.raises(errors.TaskNotFound):
            await rt.get_task("bad")

    held = [k for k in raw.scan_iter(f"{prefix}:processing:*") if raw.llen(k)]
    assert good["status"]["state"] == "completed"
    assert raw.llen(f"{prefix}:tasks") == 0 and held == []


async def test_resume_while_redis_is_down_answers_an_error_and_stays_suspended() -> (
    None
):
    """A resume that cannot be stored or queued changes nothing."""
    server = RedisServer(persistent=True)
    server.start()
    try:
        settings = redis_settings(server.url)

        async def forever(messages: list[Any]) -> None:
            await trio.sleep_forever()

        async with open_runtime(AGENT, forever, settings=settings) as rt:
            task = await rt.run_task("x")
            await rt.pause_task(task["id"])
            server.kill()
            with pytest.raises(errors.Unavailable):
                await rt.resume_task(task["id"])
            server.start()
            with trio.fail_after(20):
                while True:
                    with contextlib.suppress(errors.Unavailable):
                        after = await rt.get_task(task["id"])
                        break
                    await trio.sleep(0.05)
    finally:
        server.stop()

    assert after["status"]["state"] == "suspended"
    assert after["metadata"]["attempt"] == 1
