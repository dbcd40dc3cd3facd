"""JSON-RPC 2.0 envelopes: parse a body, dispatch each call, build replies.

Known client mistakes become their JSON-RPC error; anything unexpected is
logged here and answered as -32603 without detail. The request id is echoed
whenever it could be read. A batch (a JSON array) is answered as an array,
calls in it running concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
import trio

from actors import errors

log = logging.getLogger(__name__)

Method = Callable[[Any], Awaitable[Any]]
MAX_BATCH = 1000


async def handle_body(body: bytes, methods: Mapping[str, Method]) -> bytes | None:
    """The reply bytes for one HTTP body, or None when nothing is owed."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _encode(_error(None, errors.ParseError(f"invalid JSON: {exc}")))

    if isinstance(payload, list):
        return await _batch(payload, methods)

    reply = await _call(payload, methods)
    return None if reply is None else _encode(reply)


async def _batch(calls: list[Any], methods: Mapping[str, Method]) -> bytes | None:
    if not calls:
        return _encode(_error(None, errors.InvalidRequest("empty batch")))
    if len(calls) > MAX_BATCH:
        problem = errors.InvalidRequest(f"batch of {len(calls)} calls; max {MAX_BATCH}")
        return _encode(_error(None, problem))

    replies: list[Any] = [None] * len(calls)

    async def one(index: int, call: Any) -> None:
        replies[index] = await _call(call, methods)

    async with trio.open_nursery() as nursery:
        for index, call in enumerate(calls):
            nursery.start_soon(one, index, call)

    answered = [reply for reply in replies if reply is not None]
    return _encode(answered) if answered else None


async def _call(call: Any, methods: Mapping[str, Method]) -> dict[str, Any] | None:
    if not isinstance(call, dict):
        return _error(None, errors.InvalidRequest("a request must be a JSON object"))

    request_id = call.get("id")
    if isinstance(request_id, bool) or not isinstance(
        request_id, str | int | float | None
    ):
        problem = errors.InvalidRequest("id must be a string, a number or null")
        return _error(None, problem)
    notification = "id" not in call and _well_formed(call)

    try:
        result = await _dispatch(call, methods)
    except errors.RpcError as exc:
        return None if notification else _error(request_id, exc)
    except Exception:  # noqa: BLE001 - the client gets no traceback
        log.exception("method failed method=%r", call.get("method"))
        internal = errors.InternalError("internal error")
        return None if notification else _error(request_id, internal)

    if notification:
        return None
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _well_formed(call: dict[str, Any]) -> bool:
    """A request that names a method; without an id it is a notification,
    which gets no reply, not even an error (JSON-RPC 2.0, section 4.1)."""
    return call.get("jsonrpc") == "2.0" and isinstance(call.get("method"), str)


async def _dispatch(call: dict[str, Any], methods: Mapping[str, Method]) -> Any:
    if call.get("jsonrpc") != "2.0":
        raise errors.InvalidRequest('jsonrpc must be exactly "2.0"')

    name = call.get("method")
    if not isinstance(name, str):
        raise errors.InvalidRequest("method must be a string")

    method = methods.get(name)
    if method is None:
        known = ", ".join(sorted(methods))
        raise errors.MethodNotFound(f"method {name!r} not found; known: {known}")

    return await method(call.get("params"))


def _error(request_id: Any, exc: errors.RpcError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        error["data"] = exc.data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _encode(reply: Any) -> bytes:
    return orjson.dumps(reply)
