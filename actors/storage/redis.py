"""RedisStorage: tasks in Redis, so every process sees the same state.

Key layout (prefix `p`):

    p:task:{id}        hash {v: version, d: task JSON}
    p:index            sorted set of task ids by created_at
    p:context:{cid}    sorted set of one context's task ids by created_at
    p:events           pub/sub channel; every write (not a create)
                       publishes "{id} {version} {state}"

Every write is computed by `apply_write` on the record as read, then stored
with a compare-and-set on the version in Lua; a lost race re-reads and
re-applies, so the state machine guards every write in every process.
A create or write that puts a task in `submitted` pushes its run entry onto
the queue `p:tasks` in the same script, so a task is never stored without
its run, even if the process dies right after.
Requests waiting in the inbox are served together, one pipeline per step.
When Redis cannot be reached the replies fail at once with
`RedisUnavailable` (a `ConnectionError`); nothing waits for it to return.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from actors.messages import (
    CreateTask,
    GetTask,
    ListQuery,
    ListTasks,
    RunTask,
    Schedule,
    StorageRequest,
    TaskPage,
    WatchTask,
    WriteTask,
)
from actors.states import TaskState
from actors.storage.watchers import Watchers
from actors.task import Task
from actors.transport.redis import entry_for
from actors.writes import Refused, apply_write, queues_run
from runtime.codec import decode, encode
from runtime.errors import DecodeError
from runtime.mailbox import receive_batch
from runtime.redis_client import (
    Backoff,
    Redis,
    RedisFailure,
    RedisUnavailable,
    pipe_script,
)

log = logging.getLogger(__name__)

CAS_ROUNDS = 20
CACHE_SIZE = 10_000

# Store a new task and, with KEYS[4], queue its run entry ARGV[5] in the
# same step, so a stored task always has a run to claim. Finding this very
# record stored already means a retry of a create that ran: success. No
# event: nobody can be waiting on a task before it exists.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'd') == ARGV[2] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
if KEYS[4] then
  redis.call('RPUSH', KEYS[4], ARGV[5])
end
return 1
"""

# Store ARGV[3] as version ARGV[2] if the stored version is still ARGV[1],
# and publish the event ARGV[5] on channel ARGV[4]; on a lost race return
# the record as it is now (nil if it is gone). With KEYS[2], also queue the
# run entry ARGV[6] in the same step (an outbox), so a task that enters
# `submitted` can never be left without a run to claim.
_CAS = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then
  return redis.call('HGET', KEYS[1], 'd')
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
if KEYS[2] then
  redis.call('RPUSH', KEYS[2], ARGV[6])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"""


@attrs.frozen
class Keys:
    prefix: str

    def task(self, task_id: str) -> str:
        return f"{self.prefix}:task:{task_id}"

    @property
    def index(self) -> str:
        return f"{self.prefix}:index"

    def context(self, context_id: str) -> str:
        return f"{self.prefix}:context:{context_id}"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def queue(self) -> str:
        return f"{self.prefix}:tasks"


@attrs.define
class RedisStorage:
    inbox: trio.MemoryReceiveChannel[StorageRequest]
    redis: Redis
    prefix: str = "bindu"
    poll_interval: float = 1.0
    # Where runs are queued when the transport is not Redis (memory mode's
    # queue); None queues them on the Redis list in the writing script.
    outbox: trio.MemorySendChannel[Any] | None = None
    _keys: Keys = attrs.field(init=False)
    _create: Any = attrs.field(init=False)
    _cas: Any = attrs.field(init=False)
    _watchers: Watchers = attrs.field(factory=Watchers, init=False)
    _dirty: set[str] = attrs.field(factory=set, init=False)
    _cache: dict[str, Task] = attrs.field(factory=dict, init=False)
    _wake: trio.Event = attrs.field(factory=trio.Event, init=False)
    _watched: trio.Event = attrs.field(factory=trio.Event, init=False)

    def __attrs_post_init__(self) -> None:
        self._keys = Keys(self.prefix)
        self._create = self.redis.register(_CREATE)
        self._cas = self.redis.register(_CAS)

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve requests until the inbox closes; watchers live in memory.

        One batch at a time, its kinds of request side by side. (Several
        batches in flight made them smaller and cost a quarter of the
        throughput; see benchmarks/README.md.)
        """
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._events_loop)
            nursery.start_soon(self._refresh_loop)
            task_status.started()
            while True:
                try:
                    batch = await receive_batch(self.inbox)
                except trio.EndOfChannel:
                    break
                await self._serve(batch)
            nursery.cancel_scope.cancel()

    async def _serve(self, batch: list[StorageRequest]) -> None:
        """One pipeline per kind of request, all kinds at once."""
        steps: list[tuple[Callable[[Any], Awaitable[None]], list[Any]]] = [
            (self._create_all, [r for r in batch if isinstance(r, CreateTask)]),
            (self._read_all, [r for r in batch if isinstance(r, GetTask | WatchTask)]),
            (self._list_all, [r for r in batch if isinstance(r, ListTasks)]),
            (self._write_all, [r for r in batch if isinstance(r, WriteTask)]),
        ]
        steps = [(step, requests) for step, requests in steps if requests]
        if len(steps) == 1:
            await self._step(*steps[0])
            return
        async with trio.open_nursery() as nursery:
            for step, requests in steps:
                nursery.start_soon(self._step, step, requests)

    async def _step(
        self, step: Callable[[Any], Awaitable[None]], requests: Any
    ) -> None:
        """Run `step`; if it fails, every request in it hears the error."""
        if not requests:
            return
        try:
            await step(requests)
        except (RedisUnavailable, RedisFailure) as exc:
            for request in requests:
                request.reply.fail(exc)
        except Exception as exc:  # noqa: BLE001 - answered, logged, not fatal
            log.exception("storage step failed step=%s", step.__name__)
            for request in requests:
                request.reply.fail(exc)

    # --- create / read / list -------------------------------------------

    async def _create_all(self, creates: list[CreateTask]) -> None:
        def fill(pipe: Any) -> None:
            for request in creates:
                task, keys = request.task, self._keys
                key_list = [
                    keys.task(task.id),
                    keys.index,
                    keys.context(task.context_id),
                ]
                args = [task.version, encode(task), task.created_at, task.id]
                if self.outbox is None:
                    key_list.append(keys.queue)
                    args.append(entry_for(RunTask(task.id, task.attempt)))
                pipe_script(pipe, self._create, key_list, args)

        # Remembered before the round trip: a worker of this process can
        # claim the run as soon as Redis has it, before this step resumes,
        # and should not spend a read on it. Nothing else knows the ids yet.
        for request in creates:
            self._remember(request.task.id, request.task)
        try:
            done = await self.redis.pipeline(fill)
        except BaseException:
            for request in creates:
                self._cache.pop(request.task.id, None)
            raise

        for request, created in zip(creates, done, strict=True):
            if created:
                await self._tell_run(request.task)
                request.reply.send(request.task)
            else:
                self._cache.pop(request.task.id, None)
                request.reply.fail(ValueError(f"task {request.task.id} exists"))

    async def _read_all(self, reads: list[GetTask | WatchTask]) -> None:
        for request in reads:
            if isinstance(request, WatchTask):
                # Registered before reading, so an event that lands while the
                # read is in flight marks it dirty instead of being missed.
                self._watchers.add(
                    request.task_id,
                    request.after_version,
                    request.reply,
                    request.settled,
                )
                self._watched.set()

        found = await self.read([r.task_id for r in reads])
        for request in reads:
            task = found.get(request.task_id)
            if isinstance(request, GetTask):
                request.reply.send(task)
            else:
                self._watchers.answer(request.task_id, task)

    async def read(self, task_ids: list[str]) -> dict[str, Task | None]:
        """The current record of each id (None for an unknown id)."""
        unique = list(dict.fromkeys(task_ids))
        if not unique:
            return {}

        def fill(pipe: Any) -> None:
            for task_id in unique:
                pipe.hget(self._keys.task(task_id), "d")

        raws = await self.redis.pipeline(fill)
        found = {
            task_id: _record(task_id, raw)
            for task_id, raw in zip(unique, raws, strict=True)
        }
        for task_id, task in found.items():
            self._remember(task_id, task)
        return found

    def _remember(self, task_id: str, task: Task | None) -> None:
        """Keep the newest record seen; writes start from it (see `_write_all`).

        A read that was in flight while a write stored a newer version must
        not put the older record back. Watchers that the record satisfies
        are answered here, whatever brought it (a read, a list, a hint): an
        event for a version already remembered is skipped on the strength
        of it (see `_mark_dirty`).
        """
        known = self._cache.pop(task_id, None)
        if task is None:
            return
        if known is not None and known.version > task.version:
            task = known
        self._cache[task_id] = task
        if len(self._cache) > CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
        if task_id in self._watchers:
            self._watchers.answer(task_id, task)

    async def _list_all(self, lists: list[ListTasks]) -> None:
        for request in lists:
            request.reply.send(await self._list(request.query))

    async def _list(self, query: ListQuery) -> TaskPage:
        key = (
            self._keys.index
            if query.context_id is None
            else self._keys.context(query.context_id)
        )
        if query.state is None:
            total = await self.redis.call("zcard", key)
            stop = query.offset + query.limit - 1
            ids = await self.redis.call("zrange", key, query.offset, stop)
            tasks = await self._existing([i.decode() for i in ids])
        else:
            # TODO: a per-state index; filtering reads every task of the key.
            ids = await self.redis.call("zrange", key, 0, -1)
            every = await self._existing([i.decode() for i in ids])
            matches = [t for t in every if t.state == query.state]
            total = len(matches)
            tasks = matches[query.offset : query.offset + query.limit]

        end = query.offset + len(tasks)
        return TaskPage(tasks, total, end if end < total else None)

    async def _existing(self, task_ids: list[str]) -> list[Task]:
        found = await self.read(task_ids)
        return [task for task in found.values() if task is not None]

    # --- writes -----------------------------------------------------------

    async def _write_all(self, writes: list[WriteTask]) -> None:
        """Apply each task's writes in order, then store them by CAS.

        Writes start from the last record this process saw, which saves a
        read when it is current. Only a successful CAS proves that it was:
        a lost race brings the current record back, and a refusal or no-op
        decided on a remembered record is decided again on a fresh read, so
        nothing is answered from a stale record.
        """
        pending: dict[str, list[WriteTask]] = defaultdict(list)
        for request in writes:
            pending[request.task_id].append(request)
            if request.hint is not None:
                self._remember(request.task_id, _record(request.task_id, request.hint))

        for _ in range(CAS_ROUNDS):
            current, remembered = await self._current(list(pending))
            stores, retry = [], {}
            for task_id, requests in pending.items():
                task = current[task_id]
                if task is None:
                    _fail_all(requests, Refused(f"no task {task_id}", None))
                    continue
                final, results = _apply_all(task, requests)
                if final is not task:
                    stores.append((task, final, requests, results))
                elif task_id in remembered:
                    self._cache.pop(task_id, None)
                    retry[task_id] = requests
                else:
                    _answer_all(requests, results)

            stored = await self._store(stores)
            for (task, final, requests, results), outcome in zip(
                stores, stored, strict=True
            ):
                if outcome == 1:
                    self._remember(task.id, final)
                    if queues_run(task, final):
                        await self._tell_run(final)
                    _answer_all(requests, results)
                    self._watchers.answer(task.id, final)
                else:
                    now = _record(task.id, outcome)
                    self._remember(task.id, now)
                    retry[task.id] = requests
            pending = defaultdict(list, retry)
            if not pending:
                return

        for requests in pending.values():
            _fail_all(requests, RedisFailure("write lost the race too often"))

    async def _current(
        self, task_ids: list[str]
    ) -> tuple[dict[str, Task | None], set[str]]:
        """The records to start from, and which of them come from memory."""
        remembered = {i for i in task_ids if i in self._cache}
        current: dict[str, Task | None] = {i: self._cache[i] for i in remembered}
        missing = [i for i in task_ids if i not in remembered]
        if missing:
            current.update(await self.read(missing))
        return current, remembered

    async def _store(self, stores: list[tuple[Task, Task, Any, Any]]) -> list[Any]:
        if not stores:
            return []

        def fill(pipe: Any) -> None:
            for old, new, _requests, _results in stores:
                keys = [self._keys.task(old.id)]
                event = f"{new.id} {new.version} {new.state}"
                args = [
                    old.version,
                    new.version,
                    encode(new),
                    self._keys.events,
                    event,
                ]
                if self.outbox is None and queues_run(old, new):
                    keys.append(self._keys.queue)
                    args.append(entry_for(RunTask(new.id, new.attempt)))
                pipe_script(pipe, self._cas, keys, args)

        return await self.redis.pipeline(fill)

    async def _tell_run(self, task: Task) -> None:
        """Queue `task`'s run through the outbox, when there is one.

        XXX: unlike the Redis queue, this comes after the stored write, so a
        crash in between leaves the task in `submitted` with no run; only
        the memory transport is wired this way, and it loses its queue in
        such a crash anyway.
        """
        if self.outbox is not None:
            await self.outbox.send(Schedule(RunTask(task.id, task.attempt)))

    # --- watchers -----------------------------------------------------------

    async def _events_loop(self) -> None:
        """Mark watched tasks dirty as other processes publish writes.

        Subscribes only once something is watched: a worker-only process
        never waits on a task, so it is spared decoding every write's event.
        Until then the refresh loop's periodic re-read covers all watchers.
        """
        await self._watched.wait()
        link, backoff = self.redis.link("storage-events"), Backoff()
        while True:
            try:
                async with self.redis.subscribe(self._keys.events) as events:
                    link.up()
                    backoff.reset()
                    # Writes made while not subscribed were not heard: re-read.
                    self._dirty.update(self._watchers)
                    self._wake.set()
                    while True:
                        found = await events.next_messages(self.poll_interval)
                        self._mark_dirty(found)
            except (RedisUnavailable, RedisFailure) as exc:
                link.down(exc)
                await trio.sleep(backoff.next())

    def _mark_dirty(self, events: list[bytes]) -> None:
        """Mark watched tasks whose published version a watcher may take.

        A write this process made itself has answered its watchers already
        and is remembered, so its own event costs no read; nor does a step
        that only watchers of the outcome wait on (a claim, for instance).
        """
        for raw in events:
            event = _parse_event(raw)
            known = self._cache.get(event.task_id)
            if known is not None and event.version is not None:
                if known.version >= event.version:
                    continue
            if self._watchers.wants(event.task_id, event.state):
                self._dirty.add(event.task_id)
                self._wake.set()

    async def _refresh_loop(self) -> None:
        """Re-read dirty watched tasks; all of them now and then, as a fallback.

        XXX: a watcher whose asker gave up stays until its task changes.
        """
        swept = trio.current_time()
        while True:
            with trio.move_on_after(self.poll_interval):
                await self._wake.wait()
            self._wake = trio.Event()
            dirty, self._dirty = self._dirty, set()
            if trio.current_time() - swept >= self.poll_interval:
                # The fallback runs on time even while events keep coming.
                dirty |= set(self._watchers)
                swept = trio.current_time()
            if not dirty:
                continue
            try:
                found = await self.read(list(dirty))
            except (RedisUnavailable, RedisFailure):
                continue
            for task_id, task in found.items():
                self._watchers.answer(task_id, task)


def _apply_all(
    task: Task, requests: list[WriteTask]
) -> tuple[Task, list[Task | Refused]]:
    results: list[Task | Refused] = []
    for request in requests:
        try:
            task = apply_write(task, request.write)
        except Refused as exc:
            results.append(exc)
        else:
            results.append(task)
    return task, results


def _answer_all(requests: list[WriteTask], results: list[Task | Refused]) -> None:
    for request, result in zip(requests, results, strict=True):
        if isinstance(result, Refused):
            request.reply.fail(result)
        else:
            request.reply.send(result)


def _fail_all(requests: list[WriteTask], error: BaseException) -> None:
    for request in requests:
        request.reply.fail(error)


@attrs.frozen
class _Event:
    task_id: str
    version: int | None = None  # None: not given
    state: TaskState | None = None


def _parse_event(raw: bytes) -> _Event:
    """What an event names: "{id} {version} {state}", the last two optional."""
    task_id, *rest = raw.decode(errors="replace").split(" ")
    version: int | None = None
    state: TaskState | None = None
    with contextlib.suppress(ValueError):  # garbage names no version or state
        version = int(rest[0], 10) if rest else None
    with contextlib.suppress(ValueError):
        state = TaskState(rest[1]) if len(rest) > 1 else None
    return _Event(task_id, version, state)


def _record(task_id: str, raw: bytes | None) -> Task | None:
    """The task stored as `raw`; a record that does not decode counts as gone.

    Such a record was damaged outside the runtime. Treating it as missing
    makes its runs drop out and its reads answer "not found", instead of a
    retry loop that can never succeed.
    """
    if raw is None:
        return None
    try:
        return decode(raw, Task)
    except DecodeError as exc:
        log.error("corrupt task record ignored task_id=%s error=%s", task_id, exc)
        return None
