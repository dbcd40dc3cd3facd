"""Small client helpers shared by the end-to-end tests."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import trio

from actors.app import Runtime

_ids = itertools.count(1)


def user_message(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "role": "user",
        "messageId": f"m-{next(_ids)}",
        "parts": [{"kind": "text", "text": text}],
        **extra,
    }


async def rpc(client: httpx.AsyncClient, method: str, params: Any, id: Any = 1) -> Any:
    """POST one JSON-RPC call; returns the whole reply object."""
    body = {"jsonrpc": "2.0", "id": id, "method": method, "params": params}
    response = await client.post("/", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def send(client: httpx.AsyncClient, text: str, **config: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"message": user_message(text)}
    if config:
        params["configuration"] = config
    reply = await rpc(client, "message/send", params)
    assert "result" in reply, reply
    return reply["result"]


async def wait_for_state(
    rt: Runtime,
    client: httpx.AsyncClient,
    task_id: str,
    states: set[str],
    timeout: float = 20,
) -> dict[str, Any]:
    """Poll tasks/get over HTTP until the task is in one of `states`.

    Between polls it waits for the task to change (an event, not a sleep).
    """
    with trio.fail_after(timeout):
        while True:
            reply = await rpc(client, "tasks/get", {"id": task_id})
            task = reply["result"]
            if task["status"]["state"] in states:
                return task
            await rt.wait_task(task_id, task["metadata"]["version"], timeout)
