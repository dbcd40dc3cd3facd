"""Wiring: build the supervision tree for a mode and run it.

Root
├── Storage       (memory | redis)
├── Transport     (memory | redis)
├── Scheduler
├── WorkerPool
├── TaskManager
└── HttpFront

The mode decides only which Storage and Transport actors start.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import trio

from actors.api import TaskApi
from actors.config import AgentConfig, agent_card, load_agent_config
from actors.handlers import Handler, as_handler
from actors.manager import TaskManager
from actors.scheduler import Scheduler
from actors.storage.memory import MemoryStorage
from actors.transport.memory import MemoryTransport
from actors.worker import WorkerPool
from runtime.errors import ConfigError
from runtime.mailbox import Mailbox, open_mailbox
from runtime.settings import Settings, load_settings
from runtime.supervisor import ChildSpec, Escalation, RestartPolicy, Supervisor

if TYPE_CHECKING:
    from actors.http_front import HttpFront

log = logging.getLogger(__name__)


@attrs.define
class Runtime(TaskApi):
    """A running agent: task operations plus where it is served.

    Leaving `open_runtime`'s block stops it in order: HTTP first, workers
    after their grace period, storage last.
    """

    url: str | None = None
    pool: WorkerPool | None = None
    settings: Settings = Settings()


@attrs.define
class _Wiring:
    storage: Mailbox[Any] = attrs.field(factory=open_mailbox)
    transport: Mailbox[Any] = attrs.field(factory=open_mailbox)
    scheduler: Mailbox[Any] = attrs.field(factory=open_mailbox)
    manager: Mailbox[Any] = attrs.field(factory=open_mailbox)
    deliveries: Mailbox[Any] = attrs.field(factory=lambda: open_mailbox(64))
    control: Mailbox[Any] = attrs.field(factory=open_mailbox)


def build_tree(
    agent: AgentConfig,
    handler: Handler,
    settings: Settings,
    serve_http: bool,
) -> tuple[Supervisor, Runtime, HttpFront | None]:
    """The root supervisor for `settings`' mode, and the handle to it."""
    wires = _Wiring()
    pool = None
    if settings.role != "api":
        pool = WorkerPool(
            wires.deliveries.receive,
            wires.control.receive,
            wires.storage.send,
            wires.transport.send,
            handler,
            agent.worker_concurrency,
            agent.task_timeout,
            max_attempts=settings.max_attempts,
            recheck_interval=settings.heartbeat_interval,
        )
    manager = TaskManager(
        wires.manager.receive,
        wires.storage.send,
        wires.scheduler.send,
        blocking_timeout=agent.blocking_timeout,
    )
    runtime = Runtime(
        wires.manager.send, agent.blocking_timeout, pool=pool, settings=settings
    )

    backend, backend_health = _backend_children(wires, settings, pool)
    children = list(backend)
    if settings.role != "worker":
        scheduler = Scheduler(wires.scheduler.receive, wires.transport.send)
        children.append(ChildSpec("scheduler", scheduler.run))
    if pool is not None:
        children.append(ChildSpec("workers", pool.run, stop=pool.stop))
    front = None
    if settings.role != "worker":
        children.append(ChildSpec("manager", manager.run))
        if serve_http:
            front = _front(agent, runtime, settings, backend_health)
            children.append(ChildSpec("http", front.run, stop=front.stop))

    return Supervisor("root", children, RestartPolicy()), runtime, front


def _backend_children(
    wires: _Wiring, settings: Settings, pool: WorkerPool | None = None
) -> tuple[list[ChildSpec], Callable[[], dict[str, Any]] | None]:
    """The mode's Storage and Transport actors: the only part that differs.

    Also returns what the mode adds to `/health`, if anything.
    """
    if settings.uses_redis:
        from actors.redis_mode import RedisMode

        running = pool.running if pool is not None else None
        mode = RedisMode(wires, settings, running)
        return mode.children(), mode.health

    storage = MemoryStorage(wires.storage.receive, wires.transport.send)
    transport = MemoryTransport(
        wires.transport.receive, wires.deliveries.send, wires.control.send
    )
    return [
        ChildSpec("storage", storage.run),
        ChildSpec("transport", transport.run),
    ], None


def _front(
    agent: AgentConfig,
    runtime: Runtime,
    settings: Settings,
    backend_health: Callable[[], dict[str, Any]] | None = None,
) -> HttpFront:
    # Imported here: worker-only processes never load the HTTP stack.
    from actors.http_front import HttpFront

    def health() -> dict[str, Any]:
        pool = runtime.pool
        report: dict[str, Any] = {
            "status": "ok",
            "mode": settings.scheduler_type,
            "workers": {
                "running": len(pool.running()) if pool else 0,
                "concurrency": pool.concurrency if pool else 0,
            },
        }
        if backend_health is not None:
            extra = backend_health()
            report.update(extra)
            if not extra.get("redis", {}).get("reachable", True):
                report["status"] = "degraded"
        return report

    return HttpFront(
        runtime,
        agent_card(agent, streaming=False),
        health,
        agent.host,
        agent.port,
        agent.max_body_bytes,
    )


@asynccontextmanager
async def open_runtime(
    config: Mapping[str, Any],
    handler: Callable[..., Any],
    *,
    settings: Settings | None = None,
    serve_http: bool = True,
) -> AsyncIterator[Runtime]:
    """Start the agent inside the caller's trio run; stop it on leaving.

    Configuration errors raise `ConfigError` before anything starts.
    """
    settings = load_settings() if settings is None else settings
    if settings.role != "all" and not settings.uses_redis:
        raise ConfigError(
            f"AGENT_ROLE={settings.role!r} needs SCHEDULER_TYPE=redis; "
            "in memory mode a process must run every role (all)"
        )
    agent = load_agent_config(config, settings)
    root, runtime, front = build_tree(agent, as_handler(handler), settings, serve_http)

    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        if front is not None:
            runtime.url = _http_url(front.bound[0])
        try:
            yield runtime
        finally:
            root.stop()


def _http_url(bound: str) -> str:
    return bound if bound.startswith("http") else f"http://{bound}"


async def serve_async(
    config: Mapping[str, Any],
    handler: Callable[..., Any],
    *,
    settings: Settings | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or until SIGINT/SIGTERM, then stop in order.

    `task_status.started(runtime)` hands the running `Runtime` to the caller.
    """
    # Signals are caught before "ready" is printed: a SIGTERM sent right
    # after it must stop the runtime in order, not kill the process.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_runtime(config, handler, settings=settings) as runtime:
            log.info("agent ready url=%s role=%s", runtime.url, runtime.settings.role)
            if runtime.url is None:
                print("agent-runtime: worker ready", flush=True)
            else:
                print(f"agent-runtime: serving {runtime.url}", flush=True)
            task_status.started(runtime)
            async for signum in signals:
                log.info("stopping signal=%s", signal.Signals(signum).name)
                break


def serve(config: Mapping[str, Any], handler: Callable[..., Any]) -> None:
    """Serve the agent over HTTP until SIGINT or SIGTERM; blocks.

    Settings come from the environment (see the README). A configuration
    error or a runtime that cannot start (port taken, Redis refusing) ends
    the process with one line on stderr and exit code 2.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    code = run_until_stopped(partial(serve_async, config, handler))
    if code:
        raise SystemExit(code)


def run_until_stopped(main: Callable[[], Any]) -> int:
    """`trio.run(main)`, turning start-up failures into a message and exit 2."""
    try:
        trio.run(main)
    except BaseException as exc:  # noqa: BLE001 - filtered just below
        fatal = _startup_failure(exc)
        if fatal is None:
            raise
        print(f"agent-runtime: {fatal}", file=sys.stderr)
        return 2
    return 0


def _startup_failure(exc: BaseException) -> BaseException | None:
    """The config error or escalation inside `exc`, if that is what it is."""
    if isinstance(exc, ConfigError | Escalation):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _startup_failure(inner)
            if found is not None:
                return found
    return None
