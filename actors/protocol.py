"""Validation of A2A JSON-RPC params into manager requests.

Each `parse_*` function takes the raw `params` and returns plain values or
raises `InvalidParams` whose message names the offending field.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from actors.errors import InvalidParams
from actors.messages import ListQuery
from actors.states import TaskState
from actors.task import Message

ROLES = ("user", "agent")
PART_KINDS = ("text", "data", "file")
MAX_PAGE = 100


@attrs.frozen
class SendParams:
    message: Message
    task_id: str | None
    context_id: str | None
    blocking: bool
    history_length: int | None


@attrs.frozen
class TaskParams:
    task_id: str
    history_length: int | None


@attrs.frozen
class ListParams:
    query: ListQuery
    history_length: int | None


def parse_send(params: Any) -> SendParams:
    params = _object(params, "params")
    message = _object(params.get("message"), "params.message")
    _check_message(message)
    _check_encodable(message, "params.message")

    config = params.get("configuration")
    config = {} if config is None else _object(config, "params.configuration")
    blocking = config.get("blocking", False)
    if not isinstance(blocking, bool):
        raise InvalidParams("params.configuration.blocking must be true or false")

    return SendParams(
        message=message,
        task_id=_optional_str(message, "taskId", "params.message.taskId"),
        context_id=_optional_str(message, "contextId", "params.message.contextId"),
        blocking=blocking,
        history_length=_history_length(config, "params.configuration"),
    )


def parse_task(params: Any) -> TaskParams:
    params = _object(params, "params")
    task_id = params.get("id")
    if not isinstance(task_id, str) or not task_id:
        raise InvalidParams("params.id must be a non-empty string (the task id)")
    return TaskParams(task_id, _history_length(params, "params"))


def parse_list(params: Any) -> ListParams:
    params = {} if params is None else _object(params, "params")
    context_id = _optional_str(params, "contextId", "params.contextId")

    state = params.get("status", params.get("state"))
    if state is not None:
        accepted = [str(s) for s in TaskState]
        if state not in accepted:
            raise InvalidParams(
                f"params.status {state!r} is not a task state; accepted: "
                + ", ".join(accepted)
            )
        state = TaskState(state)

    limit = _int(params, "pageSize", "params.pageSize", 50, 1, MAX_PAGE)
    query = ListQuery(context_id, state, _page_token(params), limit)
    return ListParams(query, _history_length(params, "params"))


def _page_token(params: dict[str, Any]) -> int:
    """The offset a `nextPageToken` stands for; absent or "" is the start."""
    token = params.get("pageToken")
    if token is None or token == "":
        return 0
    valid = isinstance(token, str) and token.isascii() and token.isdigit()
    if not valid or len(token) > 12:
        raise InvalidParams("params.pageToken must be a token from a previous page")
    return int(token)


def _check_encodable(value: Any, where: str) -> None:
    """Refuse what could be read but never written back (JSON nested too deep).

    Such a task could be stored but every later read of it would fail.
    """
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise InvalidParams(f"{where} cannot be stored: {exc}") from None


def _check_message(message: dict[str, Any]) -> None:
    where = "params.message"
    message_id = message.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise InvalidParams(f"{where}.messageId must be a non-empty string")

    if message.get("role") not in ROLES:
        raise InvalidParams(f"{where}.role must be one of: {', '.join(ROLES)}")

    kind = message.get("kind", "message")
    if kind != "message":
        raise InvalidParams(f"{where}.kind must be 'message', got {kind!r}")

    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise InvalidParams(f"{where}.parts must be a non-empty list of parts")
    for index, part in enumerate(parts):
        _check_part(part, f"{where}.parts[{index}]")


def _check_part(part: Any, where: str) -> None:
    part = _object(part, where)
    kind = part.get("kind")
    if kind not in PART_KINDS:
        raise InvalidParams(f"{where}.kind must be one of: {', '.join(PART_KINDS)}")

    if kind == "text" and not isinstance(part.get("text"), str):
        raise InvalidParams(f"{where}.text must be a string")
    if kind == "data" and not isinstance(part.get("data"), dict):
        raise InvalidParams(f"{where}.data must be an object")
    if kind == "file":
        file = _object(part.get("file"), f"{where}.file")
        if not isinstance(file.get("uri", file.get("bytes")), str):
            raise InvalidParams(f"{where}.file must hold a 'uri' or 'bytes' string")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParams(f"{where} must be an object")
    return value


def _optional_str(container: dict[str, Any], key: str, where: str) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidParams(f"{where} must be a non-empty string")
    return value


def _history_length(container: dict[str, Any], where: str) -> int | None:
    if container.get("historyLength") is None:
        return None
    return _int(container, "historyLength", f"{where}.historyLength", 0, 0, 10**9)


def _int(
    container: dict[str, Any], key: str, where: str, default: int, low: int, high: int
) -> int:
    value = container.get(key, default)
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise InvalidParams(f"{where} must be a whole number from {low} to {high}")
    return value
