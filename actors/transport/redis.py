"""RedisTransport: operations travel through Redis lists between processes.

Key layout (prefix `p`, worker id `w`):

    p:tasks             list, the queue of run operations (RPUSH, claimed at head)
    p:processing:{w}    list, what worker w has claimed and not acknowledged
    p:worker:{w}        string with a TTL, w's heartbeat
    p:workers           set of worker ids that may hold a processing list
    p:dead              list of entries set aside, each with its reason
    p:control           pub/sub channel for cancel and pause signals

Producer side (every role): what waits in the inbox (runs to queue, cancel
and pause signals, acknowledgements) becomes one Lua command; the reply is
sent once Redis has it. Storage queues most runs itself, in the script that
writes the task; the runs here come from a memory storage.

Consumer side (roles all and worker): a blocking BLMOVE moves one entry from
the queue into this worker's processing list; when the queue is not empty a
Lua script moves up to `claim_batch` at once, with each task's record. An
entry leaves the processing list only when the worker pool acknowledges it
(its outcome is stored), when it is dead-lettered, when it is handed to the
live worker that runs that very attempt, or when it is put back on the
queue: at graceful stop, by any live worker's reaper once this worker's
heartbeat has expired, or by this worker when its list holds an entry it
does not know of (a pop whose reply was lost). An entry the pool dropped
(its run crashed) is handed to the pool again. Delivery is therefore at
least once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import orjson
import trio

from actors.messages import (
    Ack,
    CancelTask,
    Control,
    Delivery,
    IsAlive,
    PauseTask,
    RunTask,
    Schedule,
)
from runtime.codec import decode, encode
from runtime.errors import DecodeError
from runtime.mailbox import receive_batch
from runtime.redis_client import (
    Backoff,
    Redis,
    RedisFailure,
    RedisUnavailable,
)

log = logging.getLogger(__name__)

REDIS_ERRORS = (RedisUnavailable, RedisFailure)

# Move up to ARGV[1] entries from the queue's head into the processing list;
# answer each entry followed by its task's record (false if none), read in
# the same step so the claim that follows needs no read of its own. ARGV[2]
# is the key prefix (see the XXX on _REAP about Redis Cluster).
_CLAIM = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local entry = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not entry then break end
  local ok, op = pcall(cjson.decode, entry)
  local record = false
  if ok and type(op) == 'table' and type(op.task_id) == 'string' then
    record = redis.call('HGET', ARGV[2] .. ':task:' .. op.task_id, 'd')
  end
  out[#out + 1] = entry
  out[#out + 1] = record
end
return out
"""

# Everything one batch of the inbox asks, in one command: push ARGV[1] run
# entries onto the queue KEYS[1], remove ARGV[2] acknowledged entries once
# each from the processing list KEYS[2], push ARGV[3] records onto the dead
# list KEYS[3], publish ARGV[4] signals on KEYS[4], and hand ARGV[5] entries
# over to other workers' processing lists (pairs: entry, list key); the
# items follow in that order. One script and nothing else in its pipeline,
# so the reload after a Redis restart (NoScriptError) can retry it without
# doubling. XXX: the hand-over keys are not in KEYS (see _REAP on Cluster).
_FLUSH = """
local at = 6
local function take(count)
  local items = {}
  for n = 1, tonumber(count) do
    items[n] = ARGV[at]
    at = at + 1
  end
  return items
end
local runs, acks = take(ARGV[1]), take(ARGV[2])
local dead, signals = take(ARGV[3]), take(ARGV[4])
if #runs > 0 then redis.call('RPUSH', KEYS[1], unpack(runs)) end
for _, token in ipairs(acks) do redis.call('LREM', KEYS[2], 1, token) end
for _, record in ipairs(dead) do redis.call('RPUSH', KEYS[3], record) end
for _, signal in ipairs(signals) do redis.call('PUBLISH', KEYS[4], signal) end
local handoffs = take(tonumber(ARGV[5]) * 2)
for n = 1, #handoffs, 2 do
  if redis.call('LREM', KEYS[2], 1, handoffs[n]) == 1 then
    redis.call('RPUSH', handoffs[n + 1], handoffs[n])
  end
end
return 1
"""

# For every registered worker without a heartbeat: put its processing list
# back at the head of the queue and forget the worker. KEYS: registry, queue;
# ARGV[1]: the key prefix. XXX: keys are built inside the script, so on
# Redis Cluster the prefix must be a hash tag such as {bindu}.
_REAP = """
local moved = 0
for _, w in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. ':worker:' .. w) == 0 then
    local held = ARGV[1] .. ':processing:' .. w
    while redis.call('LMOVE', held, KEYS[2], 'RIGHT', 'LEFT') do
      moved = moved + 1
    end
    redis.call('SREM', KEYS[1], w)
  end
end
return moved
"""

# Put strays back: each entry ARGV[i] that the processing list KEYS[1] still
# holds leaves it for the queue's head KEYS[2], in one step per entry.
_RETURN = """
local moved = 0
for i = 1, #ARGV do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    redis.call('LPUSH', KEYS[2], ARGV[i])
    moved = moved + 1
  end
end
return moved
"""

# Graceful stop: everything still held goes back to the queue's head and the
# heartbeat goes; the registry entry stays so a reaper also catches a late
# straggler. KEYS: processing, queue, heartbeat.
_RELEASE = """
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do
  moved = moved + 1
end
redis.call('DEL', KEYS[3])
return moved
"""


# A claimed entry and its task's record as stored when claimed (None when
# it was not read with it).
Claimed = tuple[bytes, bytes | None]


@attrs.frozen
class Entry:
    """The wire form of an operation on the queue and the control channel."""

    op: str
    task_id: str
    attempt: int = 0


_OPS: dict[str, type] = {"cancel": CancelTask, "pause": PauseTask}


def entry_for(op: RunTask | Control) -> bytes:
    if isinstance(op, RunTask):
        return encode(Entry("run", op.task_id, op.attempt))
    name = "cancel" if isinstance(op, CancelTask) else "pause"
    return encode(Entry(name, op.task_id, op.attempt))


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@attrs.frozen
class QueueKeys:
    prefix: str
    worker_id: str

    @property
    def queue(self) -> str:
        return f"{self.prefix}:tasks"

    @property
    def processing(self) -> str:
        return f"{self.prefix}:processing:{self.worker_id}"

    @property
    def heartbeat(self) -> str:
        return f"{self.prefix}:worker:{self.worker_id}"

    @property
    def registry(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def dead(self) -> str:
        return f"{self.prefix}:dead"

    @property
    def control(self) -> str:
        return f"{self.prefix}:control"

    def task(self, task_id: str) -> str:
        return f"{self.prefix}:task:{task_id}"


@attrs.define
class _Held:
    """An entry handed to the pool and not acknowledged yet."""

    token: bytes
    task_id: str
    strikes: int = 0
    op: RunTask | None = None


@attrs.define
class RedisTransport:
    inbox: trio.MemoryReceiveChannel[Schedule | Ack | IsAlive]
    deliveries: trio.MemorySendChannel[Delivery]
    control: trio.MemorySendChannel[Control]
    redis: Redis
    prefix: str = "bindu"
    consume: bool = True
    worker_id: str = attrs.field(factory=new_worker_id)
    heartbeat_interval: float = 1.0
    heartbeat_ttl: float = 5.0
    block_timeout: float = 1.0
    claim_batch: int = 16
    running: Callable[[], dict[str, int]] | None = None
    keys: QueueKeys = attrs.field(init=False)
    _scripts: dict[str, Any] = attrs.field(factory=dict, init=False)
    _held: list[_Held] = attrs.field(factory=list, init=False)
    _unacked: list[Ack] = attrs.field(factory=list, init=False)
    _claiming: trio.CancelScope = attrs.field(factory=trio.CancelScope, init=False)
    # Run entries told to us that Redis has not taken yet (see `_handle`).
    _unpushed: list[bytes] = attrs.field(factory=list, init=False)
    # Claimed and not yet handed to the pool (see `_claim_loop`).
    _pending: list[Claimed] = attrs.field(factory=list, init=False)
    # Entries of our processing list that we did not know of at the last beat.
    _strays: set[bytes] = attrs.field(factory=set, init=False)
    _stop: trio.Event = attrs.field(factory=trio.Event, init=False)

    def __attrs_post_init__(self) -> None:
        self.keys = QueueKeys(self.prefix, self.worker_id)
        for name, lua in (
            ("claim", _CLAIM),
            ("flush", _FLUSH),
            ("return", _RETURN),
            ("reap", _REAP),
            ("release", _RELEASE),
        ):
            self._scripts[name] = self.redis.register(lua)

    def stop(self) -> None:
        """Stop claiming; `run` then hands back what it holds and returns."""
        self._stop.set()
        self._claiming.cancel()

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Move operations until `stop`; then release held entries and return.

        Entries claimed but not acknowledged go back to the queue before
        `run` returns. If Redis is down then, they stay in this worker's
        processing list and a reaper requeues them once the heartbeat expires.
        """
        if not self._stop.is_set():
            # A cancel scope serves one `with` block; a restart needs a new one.
            self._claiming = trio.CancelScope()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._inbox_loop)
            if self.consume:
                nursery.start_soon(self._claim_loop)
                nursery.start_soon(self._heartbeat_loop)
                nursery.start_soon(self._control_loop)
            task_status.started()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

        with trio.CancelScope(shield=True):
            await self._drain_inbox()
            if self.consume:
                await self._release()

    # --- producer side and acknowledgements ------------------------------

    async def _inbox_loop(self) -> None:
        while True:
            try:
                batch = await receive_batch(self.inbox)
            except trio.EndOfChannel:
                await trio.sleep_forever()
            questions = [m for m in batch if isinstance(m, IsAlive)]
            if questions:
                await self._answer_liveness(questions)
            await self._handle([m for m in batch if isinstance(m, Schedule | Ack)])

    async def _answer_liveness(self, questions: list[IsAlive]) -> None:
        """One EXISTS per question, in one round trip; failures fail the asker."""
        beats = [f"{self.prefix}:worker:{q.worker_id}" for q in questions]

        def fill(pipe: Any) -> None:
            for beat in beats:
                pipe.exists(beat)

        try:
            found = await self.redis.pipeline(fill)
        except REDIS_ERRORS as exc:
            for question in questions:
                question.reply.fail(exc)
            return
        for question, exists in zip(questions, found, strict=True):
            question.reply.send(bool(exists))

    async def _drain_inbox(self) -> None:
        batch: list[Schedule | Ack] = []
        while True:
            try:
                message = self.inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            if isinstance(message, IsAlive):
                message.reply.fail(ConnectionError("transport is stopping"))
            else:
                batch.append(message)
        with trio.move_on_after(self.redis.op_timeout):
            await self._handle(batch)

    async def _handle(self, batch: list[Schedule | Ack]) -> None:
        """One command for every push, publish and ack in `batch`."""
        schedules = [m for m in batch if isinstance(m, Schedule)]
        queued = [s for s in schedules if isinstance(s.op, RunTask)]
        signals = [entry_for(s.op) for s in schedules if not isinstance(s.op, RunTask)]
        # Runs no one waits on (told, not asked) are kept and pushed again.
        told = self._unpushed + [entry_for(s.op) for s in queued if s.reply is None]
        runs = told + [entry_for(s.op) for s in queued if s.reply is not None]
        self._unpushed = []
        acks = [m for m in batch if isinstance(m, Ack)]
        self._forget([ack.token for ack in acks])
        acks = self._unacked + acks
        self._unacked = []
        if not (runs or signals or acks):
            return

        tokens = [ack.token for ack in acks if ack.handoff is None]
        dead = [self._dead_record(a.token, a.dead) for a in acks if a.dead is not None]
        handoffs = [
            item
            for ack in acks
            if ack.handoff is not None
            for item in (ack.token, f"{self.prefix}:processing:{ack.handoff}")
        ]
        counts = [len(runs), len(tokens), len(dead), len(signals), len(handoffs) // 2]
        keys = [self.keys.queue, self.keys.processing, self.keys.dead]
        try:
            await self.redis.script(
                self._scripts["flush"],
                [*keys, self.keys.control],
                [*counts, *runs, *tokens, *dead, *signals, *handoffs],
            )
        except REDIS_ERRORS as exc:
            # Acks and told runs are kept and tried again; askers hear at once.
            self._unacked = acks
            self._unpushed = told
            for message in schedules:
                if message.reply is not None:
                    message.reply.fail(exc)
            return

        for ack in acks:
            if ack.dead is not None:
                self._log_dead(ack.token, ack.dead)
        for message in schedules:
            if message.reply is not None:
                message.reply.send(None)

    def _forget(self, tokens: list[bytes]) -> None:
        for token in tokens:
            for index, held in enumerate(self._held):
                if held.token == token:
                    del self._held[index]
                    break

    # --- consumer side ----------------------------------------------------

    async def _claim_loop(self) -> None:
        """Claim entries and hand them to the pool until `stop`.

        The pool's bounded delivery channel is the back-pressure: while it
        is full, nothing more is claimed.

        XXX: a busy worker may hold up to the channel's capacity plus
        `claim_batch` entries that others could run; they are not lost (they
        stay in its processing list) but wait for it.
        """
        link, backoff = self.redis.link(f"worker {self.worker_id}"), Backoff()
        with self._claiming:
            while True:
                try:
                    if not self._pending:
                        self._pending = await self._claim()
                    link.up()
                    backoff.reset()
                    await self._deliver(self._pending)
                except REDIS_ERRORS as exc:
                    # What was claimed and not handed over yet is in `pending`
                    # and in the processing list; it is tried again.
                    link.down(exc)
                    await trio.sleep(backoff.next())

    async def _claim(self) -> list[Claimed]:
        found: list[bytes | None] = await self.redis.script(
            self._scripts["claim"],
            [self.keys.queue, self.keys.processing],
            [self.claim_batch, self.prefix],
        )
        if found:
            pairs = zip(found[::2], found[1::2], strict=True)
            return [(entry, record) for entry, record in pairs if entry is not None]

        entry = await self.redis.call_blocking(
            "blmove",
            self.keys.queue,
            self.keys.processing,
            self.block_timeout,
            "LEFT",
            "RIGHT",
            timeout=self.block_timeout,
        )
        return [] if entry is None else [(entry, None)]

    async def _deliver(self, pending: list[Claimed]) -> None:
        """Decode, dead-letter what is bad, and pass the rest to the pool.

        Entries leave `pending` (from the front) as they are dealt with. An
        entry naming no stored task is found out by the pool's claim, which
        sends it back here to be set aside, so no read is spent on it here.
        """
        while pending:
            raw, record = pending[0]
            op = _decode_run(raw)
            if isinstance(op, str):
                await self._dead_letter(raw, op)
            else:
                delivery = Delivery(op, raw, self.worker_id, record)
                await self.deliveries.send(delivery)
                self._held.append(_Held(raw, op.task_id, op=op))
            pending.pop(0)

    async def _dead_letter(self, raw: bytes, reason: str) -> None:
        """Move `raw` from the processing list to the dead list, once."""
        record = self._dead_record(raw, reason)

        def fill(pipe: Any) -> None:
            pipe.lrem(self.keys.processing, 1, raw)
            pipe.rpush(self.keys.dead, record)

        await self.redis.pipeline(fill, transaction=True)
        self._log_dead(raw, reason)

    def _dead_record(self, raw: bytes, reason: str) -> bytes:
        """The dead list's record of `raw`: the entry, why, who and when."""
        record: dict[str, Any] = {
            "reason": reason,
            "worker": self.worker_id,
            "at": time.time(),
        }
        try:
            record["entry"] = raw.decode()
        except UnicodeDecodeError:
            record["entry_hex"] = raw.hex()
        return orjson.dumps(record)

    def _log_dead(self, raw: bytes, reason: str) -> None:
        log.warning(
            "dead-lettered entry reason=%s bytes=%d worker=%s",
            reason[:200],
            len(raw),
            self.worker_id,
        )

    async def _control_loop(self) -> None:
        """Forward cancel and pause signals from any process to the pool."""
        link, backoff = self.redis.link("control"), Backoff()
        while True:
            try:
                async with self.redis.subscribe(self.keys.control) as signals:
                    link.up()
                    backoff.reset()
                    while True:
                        for data in await signals.next_messages(timeout=5.0):
                            op = _decode_control(data)
                            if op is not None:
                                await self.control.send(op)
            except REDIS_ERRORS as exc:
                link.down(exc)
                await trio.sleep(backoff.next())

    # --- liveness -----------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        """Beat, reap dead workers, retry acks, and requeue dropped entries."""
        link = self.redis.link(f"heartbeat {self.worker_id}")
        while True:
            try:
                listed = await self._beat()
                await self._return_strays(listed)
                reaped = await self.redis.script(
                    self._scripts["reap"],
                    [self.keys.registry, self.keys.queue],
                    [self.prefix],
                )
                if reaped:
                    log.warning("requeued entries of dead workers count=%d", reaped)
                if self._unacked or self._unpushed:
                    await self._handle([])
                await self._requeue_dropped()
                link.up()
            except REDIS_ERRORS as exc:
                link.down(exc)
            await trio.sleep(self.heartbeat_interval)

    async def _beat(self) -> list[bytes]:
        """Refresh the heartbeat; answers what our processing list holds."""
        ttl_ms = int(self.heartbeat_ttl * 1000)

        def fill(pipe: Any) -> None:
            pipe.set(self.keys.heartbeat, self.worker_id, px=ttl_ms)
            pipe.sadd(self.keys.registry, self.worker_id)
            pipe.lrange(self.keys.processing, 0, -1)

        found = await self.redis.pipeline(fill)
        listed: list[bytes] = found[-1]
        return listed

    async def _return_strays(self, listed: list[bytes]) -> None:
        """Queue again what our processing list holds that we know nothing of.

        A pop whose reply was lost (a dropped connection, a timeout after
        Redis moved the entry) leaves the entry in this live worker's list,
        where no reaper looks. Unknown at two beats in a row, so an entry
        in flight (being claimed or acknowledged) is never taken for one,
        it goes back to the head of the queue. A copy that was in fact in
        use only runs into the claim's fencing and is dropped there.
        """
        known = {held.token for held in self._held}
        known |= {raw for raw, _record in self._pending}
        known |= {ack.token for ack in self._unacked}
        unknown = {raw for raw in listed if raw not in known}
        strays = sorted(unknown & self._strays)
        self._strays = unknown - set(strays)
        if not strays:
            return
        moved = await self.redis.script(
            self._scripts["return"], [self.keys.processing, self.keys.queue], strays
        )
        log.warning("requeued stray entries count=%d worker=%s", moved, self.worker_id)

    async def _requeue_dropped(self) -> None:
        """Hand the pool again the entries it took but neither runs nor acked.

        That happens when a run crashed on a storage error (Redis went away
        mid-run). The channel is first-in first-out and only this actor sends
        into it, so all but the newest `buffered` held entries were taken.
        An entry must look dropped on two beats in a row before it is handed
        back, so a run that is just starting or just acknowledging is safe.
        It goes back to this worker's own pool, not to the shared queue: the
        task names this worker as its owner, which is alive, so only this
        pool can tell that the run is gone and write it off as lost.
        """
        if self.running is None:
            return
        buffered = self.deliveries.statistics().current_buffer_used
        taken = self._held[: max(0, len(self._held) - buffered)]
        running = self.running()
        unacked = {ack.token for ack in self._unacked}
        for held in list(taken):
            if held.task_id in running or held.token in unacked:
                held.strikes = 0
                continue
            held.strikes += 1
            if held.strikes < 2:
                continue
            if held.op is None:
                continue
            delivery = Delivery(held.op, token=held.token, worker=self.worker_id)
            try:
                self.deliveries.send_nowait(delivery)
            except trio.WouldBlock:
                continue
            held.strikes = 0
            self._held.remove(held)
            self._held.append(held)
            log.warning("handed a dropped run back task_id=%s", held.task_id)

    async def _release(self) -> None:
        try:
            moved = await self.redis.script(
                self._scripts["release"],
                [self.keys.processing, self.keys.queue, self.keys.heartbeat],
            )
        except REDIS_ERRORS as exc:
            log.warning(
                "could not release held entries worker=%s error=%s; "
                "they are requeued once the heartbeat expires",
                self.worker_id,
                exc,
            )
            return
        if moved:
            log.info("released held entries count=%d worker=%s", moved, self.worker_id)


def _decode_run(raw: bytes) -> RunTask | str:
    """The run operation in `raw`, or the reason it is not one."""
    try:
        entry = decode(raw, Entry)
    except DecodeError as exc:
        return f"undecodable entry: {str(exc)[:500]}"
    if entry.op != "run":
        return f"unknown operation {entry.op[:100]!r}"
    if entry.attempt < 1:
        return f"invalid attempt {entry.attempt}"
    return RunTask(entry.task_id, entry.attempt)


def _decode_control(data: bytes) -> Control | None:
    try:
        entry = decode(data, Entry)
    except DecodeError:
        log.warning("ignored undecodable control signal bytes=%d", len(data))
        return None
    kind = _OPS.get(entry.op)
    if kind is None:
        log.warning("ignored unknown control signal op=%r", entry.op[:100])
        return None
    op: Control = kind(entry.task_id, entry.attempt)
    return op
