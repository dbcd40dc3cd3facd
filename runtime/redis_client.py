"""A trio-facing handle on redis-py's asyncio client.

`open_redis` owns the clients for the lifetime of its block; it must run
inside `runtime.aio.open_aio_loop`. Every call goes through the bridge in
`runtime.aio`, is bounded in time, and turns connection trouble into
`RedisUnavailable` (a `ConnectionError`), so callers fail fast instead of
hanging and never see redis-py's own exception types for an outage.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import redis.asyncio as aioredis
import redis.exceptions as rexc
import trio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from runtime.aio import run_aio
from runtime.errors import ConfigError
from runtime.redis_url import RedisTarget

log = logging.getLogger(__name__)

# A full or read-only server is an outage too: the command did not run and
# may succeed later, so callers retry or answer "unavailable", not "bug".
OUTAGE = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.OutOfMemoryError,
    rexc.ReadOnlyError,
    OSError,
    EOFError,
)


class RedisUnavailable(ConnectionError):
    """Redis did not answer (down, unreachable or too slow); nothing is known
    about whether the command ran. Retry later, or report the outage."""


class RedisFailure(RuntimeError):
    """Redis answered with an error (a bug or a misconfigured server)."""


@attrs.define
class Backoff:
    """Capped exponential backoff with jitter: `next()` is the next delay."""

    initial: float = 0.05
    cap: float = 2.0
    _tries: int = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.initial * 2**self._tries)
        self._tries = min(self._tries + 1, 30)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._tries = 0


@attrs.define
class RedisLink:
    """Whether Redis answered last time; logs once per change, not per try."""

    who: str
    where: str
    reachable: bool | None = None

    def up(self) -> None:
        if self.reachable is not True:
            log.info("redis up who=%s url=%s", self.who, self.where)
        self.reachable = True

    def down(self, error: BaseException) -> None:
        if self.reachable is not False:
            log.warning(
                "redis down who=%s url=%s error=%s", self.who, self.where, error
            )
        self.reachable = False


@attrs.define
class Redis:
    """Two asyncio clients (one for blocking calls and pub/sub) behind trio.

    `call`, `pipeline` and `script` raise `RedisUnavailable` within
    `op_timeout` seconds when Redis cannot be reached. Cancelling a call
    cancels the command; its connection is dropped, never reused half-read.
    """

    target: RedisTarget
    client: Any
    blocking: Any
    op_timeout: float = 5.0
    _scripts: list[Any] = attrs.field(factory=list, init=False)

    @property
    def where(self) -> str:
        return self.target.masked

    def link(self, who: str) -> RedisLink:
        return RedisLink(who, self.where)

    def register(self, lua: str) -> Any:
        """A Lua script for `script` and `pipe_script`."""
        script = self.client.register_script(lua)
        self._scripts.append(script)
        return script

    async def check_access(self) -> None:
        """Refuse at start what no retry can fix: credentials, a missing db.

        Redis being down is not an error here: the runtime waits for it.
        Raises `ConfigError` naming REDIS_URL (password masked).
        """
        try:
            with trio.fail_after(self.op_timeout):
                await run_aio(self.client.ping)
        except rexc.AuthenticationError:
            raise ConfigError(
                f"REDIS_URL={self.target.masked}: Redis refused the user or "
                "password; check the credentials"
            ) from None
        except rexc.ResponseError as exc:
            if "DB index is out of range" not in str(exc):
                raise RedisFailure(self._clean(exc)) from None
            raise ConfigError(
                f"REDIS_URL={self.target.masked}: database {self.target.db} "
                "does not exist on this server"
            ) from None
        except (trio.TooSlowError, *OUTAGE):
            return

    async def call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        """Run one command, e.g. `await redis.call("rpush", key, value)`."""
        fn = getattr(self.client, command)
        return await self._guard(partial(fn, *args, **kwargs), self.op_timeout)

    async def call_blocking(
        self, command: str, *args: Any, timeout: float, **kwargs: Any
    ) -> Any:
        """Run a blocking command whose server-side timeout is `timeout`."""
        fn = getattr(self.blocking, command)
        limit = timeout + self.op_timeout
        return await self._guard(partial(fn, *args, **kwargs), limit)

    async def pipeline(
        self, fill: Callable[[Any], None], *, transaction: bool = False
    ) -> list[Any]:
        """Queue commands with `fill(pipe)` and send them in one round trip."""

        async def execute() -> list[Any]:
            # `execute` resets the pipeline and returns its connection, even
            # when it fails, so no context manager (and its awaits) is needed.
            pipe = self.client.pipeline(transaction=transaction)
            fill(pipe)
            try:
                return await pipe.execute()  # type: ignore[no-any-return]
            except rexc.NoScriptError:
                # A restarted Redis has forgotten the scripts: load, retry once.
                for script in self._scripts:
                    script.sha = await self.client.script_load(script.script)
                pipe = self.client.pipeline(transaction=transaction)
                fill(pipe)
                return await pipe.execute()  # type: ignore[no-any-return]

        return await self._guard(execute, self.op_timeout)  # type: ignore[no-any-return]

    async def script(
        self, script: Any, keys: Sequence[Any], args: Sequence[Any] = ()
    ) -> Any:
        return await self._guard(
            partial(script, keys=list(keys), args=list(args)), self.op_timeout
        )

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """A pub/sub subscription to `channel`, closed on leaving."""
        pubsub = self.blocking.pubsub(ignore_subscribe_messages=True)
        try:
            await self._guard(partial(pubsub.subscribe, channel), self.op_timeout)
            yield Subscription(self, pubsub)
        finally:
            with trio.CancelScope(shield=True):
                await _quietly(pubsub.aclose)

    async def _guard(self, fn: Callable[[], Any], limit: float) -> Any:
        try:
            with trio.fail_after(limit):
                return await run_aio(fn)
        except trio.TooSlowError:
            message = f"redis at {self.where}: no answer in {limit}s"
            raise RedisUnavailable(message) from None
        except OUTAGE as exc:
            await self._drop_idle()
            raise RedisUnavailable(self._clean(exc)) from None
        except rexc.RedisError as exc:
            raise RedisFailure(self._clean(exc)) from None

    async def _drop_idle(self) -> None:
        """Close the pooled connections not in use, after an outage error.

        They may lead to a server that has since restarted, and each would
        fail its next command. Connections in use are left to their owners.
        """
        with trio.CancelScope(shield=True):
            for client in (self.client, self.blocking):
                pool = client.connection_pool
                await _quietly(partial(pool.disconnect, inuse_connections=False))

    def _clean(self, exc: BaseException) -> str:
        """The error text with the password blanked out, whatever redis-py says."""
        text = f"redis at {self.where}: {type(exc).__name__}: {exc}"
        secret = self.target.password
        return text.replace(secret, "***") if secret else text


@attrs.define
class Subscription:
    _redis: Redis
    _pubsub: Any

    async def next_messages(self, timeout: float, limit: int = 256) -> list[bytes]:
        """The data of the next messages: [] after `timeout` seconds idle.

        Waits for one message, then takes up to `limit` already received,
        all in one crossing of the trio-asyncio bridge, which costs more
        than reading a message.
        """
        fn = partial(_drain, self._pubsub, timeout, limit)
        found: list[bytes] = await self._redis._guard(
            fn, timeout + self._redis.op_timeout
        )
        return found


async def _drain(pubsub: Any, timeout: float, limit: int) -> list[bytes]:
    """(asyncio) Wait up to `timeout` for a message, then take what is ready."""
    message = await pubsub.get_message(timeout=timeout)
    found: list[bytes] = []
    while message is not None and len(found) < limit:
        if message.get("type") == "message":
            found.append(message["data"])
        message = await pubsub.get_message(timeout=0.0)
    return found


@asynccontextmanager
async def open_redis(
    target: RedisTarget, *, op_timeout: float = 5.0, block_timeout: float = 1.0
) -> AsyncIterator[Redis]:
    """Clients for `target`, closed (connections and pools) on leaving.

    No connection is made here: a Redis that is down at start is noticed by
    the first command. `block_timeout` is the longest server-side timeout
    any blocking command will use; the socket timeout of the blocking
    client is kept above it so an idle blocking pop never times out.
    """
    common: dict[str, Any] = {
        **target.client_kwargs(),
        "socket_connect_timeout": min(op_timeout, 2.0),
        "socket_keepalive": True,
        # No retries: a command whose reply was lost may have run, and a
        # second run of a write would be answered as its own refusal. The
        # idle connections left from before a Redis restart are dropped by
        # `_guard` at the first outage error instead.
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 15,
    }
    client = aioredis.Redis(socket_timeout=op_timeout, **common)
    blocking = aioredis.Redis(socket_timeout=block_timeout + op_timeout, **common)
    try:
        yield Redis(target, client, blocking, op_timeout)
    finally:
        with trio.CancelScope(shield=True):
            await _quietly(client.aclose)
            await _quietly(blocking.aclose)


def pipe_script(
    pipe: Any, script: Any, keys: Sequence[Any], args: Sequence[Any]
) -> None:
    """Queue a registered Lua script on a pipeline.

    If Redis does not know the script, `Redis.pipeline` loads it and retries;
    so a pipeline holding scripts must hold nothing else that is not idempotent.
    """
    pipe.evalsha(script.sha, len(keys), *keys, *args)


async def _quietly(close: Callable[[], Any]) -> None:
    try:
        with trio.move_on_after(2.0):
            await run_aio(close)
    except (*OUTAGE, rexc.RedisError):
        pass
