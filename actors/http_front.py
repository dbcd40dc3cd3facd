"""HttpFront: the agent over HTTP, served by Hypercorn's trio worker.

Routes: `POST /` (JSON-RPC), `GET /tasks/{task_id}`, the agent card at
`/.well-known/agent.json` and `/.well-known/agent-card.json`, `GET /health`.
JSON-RPC errors travel with HTTP 200, because common A2A clients do not
read the body of a 4xx answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import orjson
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from actors import errors
from actors.api import TaskApi
from actors.jsonrpc import handle_body
from runtime.errors import ConfigError

log = logging.getLogger(__name__)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class _TooLarge(Exception):
    pass


@attrs.define
class HttpFront:
    api: TaskApi
    card: dict[str, Any]
    health: Callable[[], dict[str, Any]]
    host: str
    port: int
    max_body_bytes: int = 1_048_576
    bound: list[str] = attrs.field(factory=list)
    _shutdown: trio.Event = attrs.field(factory=trio.Event)

    def stop(self) -> None:
        """Stop accepting; requests in flight get the supervisor's grace."""
        self._shutdown.set()

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self._shutdown = trio.Event()
        config = HypercornConfig()
        config.bind = [f"{_bracket(self.host)}:{self.port}"]
        config.accesslog = None
        config.graceful_timeout = 5.0
        config.keep_alive_timeout = 75.0
        config.backlog = 1024

        async def started(task_status: Any) -> None:
            await hypercorn_serve(
                self.app(),  # type: ignore[arg-type]
                config,
                shutdown_trigger=self._shutdown.wait,
                task_status=task_status,
            )

        async with trio.open_nursery() as nursery:
            try:
                self.bound = await nursery.start(started)
            except (OSError, BaseExceptionGroup) as exc:
                raise self._bind_error(exc) from None
            log.info("serving urls=%s", ",".join(self.bound))
            task_status.started()

    def _bind_error(self, exc: BaseException) -> BaseException:
        """A port that cannot be bound as the setting to fix, not a crash.

        No restart can bind a port in use or one not allowed, so the
        supervisor is told at once (`ConfigError`) instead of retrying.
        """
        cause = _first_os_error(exc)
        if cause is None:
            return exc
        return ConfigError(
            f"HOST/PORT {self.host}:{self.port}: cannot listen there "
            f"({cause.strerror or cause}); choose another PORT or stop the "
            "program that holds it"
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self._rpc, methods=["POST"]),
                Route("/tasks/{task_id}", self._get_task, methods=["GET"]),
                Route("/.well-known/agent.json", self._card, methods=["GET"]),
                Route("/.well-known/agent-card.json", self._card, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
            ]
        )

    async def _rpc(self, request: Request) -> Response:
        try:
            body = await self._read_body(request)
        except _TooLarge:
            problem = {"code": -32600, "message": self._too_large()}
            return JSON({"jsonrpc": "2.0", "id": None, "error": problem})
        except ClientDisconnect:
            return Response(status_code=400)

        reply = await handle_body(body, self.api.methods())
        if reply is None:
            return Response(status_code=204)
        return Response(reply, media_type="application/json")

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _TooLarge

        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"request body is larger than {self.max_body_bytes} bytes"

    async def _get_task(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        try:
            return JSON(await self.api.get_task(task_id))
        except errors.TaskNotFound as exc:
            return JSON({"error": {"code": exc.code, "message": exc.message}}, 404)
        except errors.RpcError as exc:
            return JSON({"error": {"code": exc.code, "message": exc.message}}, 503)

    async def _card(self, request: Request) -> Response:
        return JSON(self.card)

    async def _health(self, request: Request) -> Response:
        report = self.health()
        status = 200 if report.get("status") == "ok" else 503
        return JSON(report, status)


def _first_os_error(exc: BaseException) -> OSError | None:
    """The first OSError in `exc`, looking inside exception groups."""
    if isinstance(exc, OSError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _first_os_error(inner)
        if found is not None:
            return found
    return None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
