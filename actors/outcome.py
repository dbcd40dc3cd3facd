"""What a handler's return value means for its task.

- `None`: completed with no reply;
- a string: completed, replying with that text;
- `{"state": "input-required" | "auth-required", "prompt": ...}`: the task
  stays open and asks the user; a follow-up message runs it again;
- one A2A part (`{"kind": "text" | "data" | "file", ...}`) or a list of
  them: completed with those parts;
- any other JSON value: completed with a data part holding it.
"""

from __future__ import annotations

from typing import Any

import orjson

from actors.states import TaskState
from actors.task import Message, new_id
from actors.writes import Finish

ASKING = {
    "input-required": TaskState.INPUT_REQUIRED,
    "auth-required": TaskState.AUTH_REQUIRED,
}
PART_KINDS = {"text", "data", "file"}


class BadResult(TypeError):
    """The handler returned something that cannot be sent to a client."""


def finish_for(result: Any, attempt: int) -> Finish:
    """The storage write that records `result` as run `attempt`'s outcome."""
    state = result.get("state") if isinstance(result, dict) else None
    if isinstance(state, str) and state in ASKING:
        parts = to_parts(result.get("prompt"))
        return Finish(attempt, ASKING[state], parts=parts)

    parts = to_parts(result)
    artifacts = [artifact(parts)] if parts else []
    return Finish(attempt, TaskState.COMPLETED, parts=parts, artifacts=artifacts)


def finish_streamed(items: list[Any], attempt: int) -> Finish:
    """The outcome of a generator whose items were already streamed out."""
    if items and all(isinstance(item, str) for item in items):
        parts = [{"kind": "text", "text": "".join(items)}]
    else:
        parts = [part for item in items for part in to_parts(item)]
    return Finish(attempt, TaskState.COMPLETED, parts=parts)


def failure(error: str, attempt: int) -> Finish:
    parts = [{"kind": "text", "text": error}]
    return Finish(attempt, TaskState.FAILED, parts=parts, error=error)


def to_parts(value: Any) -> list[Message]:
    """A2A parts for a handler value; raises `BadResult` if not JSON-able."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"kind": "text", "text": value}]
    if _is_part(value):
        return [_checked(value)]
    if isinstance(value, list) and value and all(_is_part(v) for v in value):
        return [_checked(v) for v in value]
    return [{"kind": "data", "data": _checked(value)}]


def artifact(parts: list[Message]) -> Message:
    return {"artifactId": new_id(), "name": "result", "parts": parts}


def _is_part(value: Any) -> bool:
    """A well-formed A2A part; anything else is sent as data."""
    if not isinstance(value, dict):
        return False
    kind = value.get("kind")
    if kind == "text":
        return isinstance(value.get("text"), str)
    if kind == "data":
        return isinstance(value.get("data"), dict)
    if kind == "file":
        return isinstance(value.get("file"), dict)
    return False


def _checked(value: Any) -> Any:
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise BadResult(f"handler result is not JSON-serializable: {exc}") from None
    return value
