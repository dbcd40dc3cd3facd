"""Errors a client can receive, each with its JSON-RPC code.

The HTTP front turns these into JSON-RPC error objects; anything else that
escapes becomes -32603 with no detail, so no traceback reaches a client.
"""

from __future__ import annotations

from typing import Any


class RpcError(Exception):
    """Base of every error that is the client's to see."""

    code = -32603

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ParseError(RpcError):
    """The body is not JSON."""

    code = -32700


class InvalidRequest(RpcError):
    """The JSON is not a JSON-RPC 2.0 request object."""

    code = -32600


class MethodNotFound(RpcError):
    code = -32601


class InvalidParams(RpcError):
    """A parameter is missing or malformed; the message names the field."""

    code = -32602


class InternalError(RpcError):
    code = -32603


class TaskNotFound(RpcError):
    code = -32001


class TaskNotCancelable(RpcError):
    code = -32002


class UnsupportedOperation(RpcError):
    """E.g. a message to a task that is finished or not waiting for input."""

    code = -32004


class TaskNotPausable(RpcError):
    code = -32010


class TaskNotResumable(RpcError):
    code = -32011


class Unavailable(RpcError):
    """Storage or queue is unreachable right now; retrying later may work."""

    code = -32020
