"""End to end over real HTTP on a free loopback port, in every mode."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx
import trio

from runtime.settings import Settings
from tests.conftest import running_agent
from tests.helpers import rpc, send, user_message, wait_for_state

TERMINAL = {"completed", "failed", "canceled", "rejected"}


def echo(messages: list[dict[str, Any]]) -> str:
    return "echo: " + messages[-1]["parts"][0]["text"]


async def test_send_then_poll_until_completed(mode_settings: Settings) -> None:
    """A sent message becomes a task that completes with the handler's reply."""
    async with running_agent(echo, mode_settings) as (rt, client):
        task = await send(client, "hello")
        done = await wait_for_state(rt, client, task["id"], TERMINAL)

    assert task["status"]["state"] in {"submitted", "working", "completed"}
    assert done["status"]["state"] == "completed"
    assert done["artifacts"][0]["parts"] == [{"kind": "text", "text": "echo: hello"}]
    assert done["history"][-1]["role"] == "agent"


async def test_blocking_send_answers_the_finished_task(mode_settings: Settings) -> None:
    """configuration.blocking waits for the outcome before answering."""

    async def slowish(messages: list[dict[str, Any]]) -> str:
        await trio.sleep(0.05)
        return "done"

    async with running_agent(slowish, mode_settings) as (_rt, client):
        task = await send(client, "go", blocking=True)

    assert task["status"]["state"] == "completed"
    assert task["status"]["message"]["parts"][0]["text"] == "done"


async def test_200_concurrent_sends_each_run_exactly_once(
    mode_settings: Settings,
) -> None:
    """Every one of 200 concurrent sends completes, its handler run once."""
    calls: Counter[str] = Counter()

    async def count(messages: list[dict[str, Any]]) -> str:
        text = messages[-1]["parts"][0]["text"]
        calls[text] += 1
        return text

    results: dict[str, dict[str, Any]] = {}
    async with running_agent(count, mode_settings) as (rt, _client):
        # Ten clients of twenty requests each: httpx's pool scans every
        # pending request per assignment, which makes one client of 200
        # slower than the server it tests.
        clients = [httpx.AsyncClient(base_url=rt.url or "") for _ in range(10)]

        async def one(n: int) -> None:
            client = clients[n % len(clients)]
            task = await send(client, f"t{n}")
            results[f"t{n}"] = await wait_for_state(rt, client, task["id"], TERMINAL)

        async with trio.open_nursery() as nursery:
            for n in range(200):
                nursery.start_soon(one, n)
        for client in clients:
            await client.aclose()

    assert len(results) == 200
    assert {r["status"]["state"] for r in results.values()} == {"completed"}
    assert calls == Counter({f"t{n}": 1 for n in range(200)})


async def test_raising_handler_fails_the_task_with_its_message(
    mode_settings: Settings,
) -> None:
    """An exception in the handler ends the task failed, naming the error."""

    def broken(messages: list[dict[str, Any]]) -> str:
        raise ValueError("the model is on fire")

    async with running_agent(broken, mode_settings) as (_rt, client):
        task = await send(client, "x", blocking=True)

    assert task["status"]["state"] == "failed"
    assert "ValueError: the model is on fire" in task["metadata"]["error"]
    assert "the model is on fire" in task["status"]["message"]["parts"][0]["text"]


async def test_blocking_sync_handler_leaves_health_answering(
    mode_settings: Settings,
) -> None:
    """A sync handler stuck in a thread does not stop the event loop."""
    release = threading.Event()
    entered = threading.Event()

    def stuck(messages: list[dict[str, Any]]) -> str:
        entered.set()
        release.wait(30)
        return "unstuck"

    async with running_agent(stuck, mode_settings) as (rt, client):
        task = await send(client, "block")
        await trio.to_thread.run_sync(entered.wait, 10)

        health = await client.get("/health")
        release.set()
        done = await wait_for_state(rt, client, task["id"], TERMINAL)

    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert done["status"]["state"] == "completed"


async def test_bad_requests_get_their_codes_and_create_nothing(
    mode_settings: Settings,
) -> None:
    """Malformed JSON, non-objects, unknown methods, bad params, unknown ids."""
    async with running_agent(echo, mode_settings) as (_rt, client):
        garbled = (await client.post("/", content=b"{nope")).json()
        not_object = (await client.post("/", content=b"42")).json()
        unknown = await rpc(client, "tasks/fly", {}, id="abc")
        no_parts = await rpc(
            client,
            "message/send",
            {"message": {"role": "user", "messageId": "m", "parts": []}},
            id=7,
        )
        bad_role = await rpc(
            client, "message/send", {"message": user_message("x", role="robot")}
        )
        missing = await rpc(client, "tasks/get", {"id": "no-such-task"})
        listed = await rpc(client, "tasks/list", {})

    assert garbled["error"]["code"] == -32700 and garbled["id"] is None
    assert not_object["error"]["code"] == -32600
    assert (unknown["error"]["code"], unknown["id"]) == (-32601, "abc")
    assert (no_parts["error"]["code"], no_parts["id"]) == (-32602, 7)
    assert "params.message.parts" in no_parts["error"]["message"]
    assert "params.message.role" in bad_role["error"]["message"]
    assert missing["error"]["code"] == -32001
    assert listed["result"]["totalSize"] == 0
    assert all("Traceback" not in str(r) for r in (garbled, unknown, no_parts))


async def test_history_length_zero_hides_history(mode_settings: Settings) -> None:
    """historyLength 0 means no history; absent means all of it."""
    async with running_agent(echo, mode_settings) as (_rt, client):
        task = await send(client, "a", blocking=True, historyLength=0)
        full = await rpc(client, "tasks/get", {"id": task["id"]})
        one = await rpc(client, "tasks/get", {"id": task["id"], "historyLength": 1})

    assert task["history"] == []
    assert len(full["result"]["history"]) == 2
    assert one["result"]["history"][0]["role"] == "agent"


async def test_messages_reach_the_handler_exactly_as_sent(
    mode_settings: Settings,
) -> None:
    """A text that looks like a UUID stays a string; data parts keep their types."""
    seen: list[Any] = []

    def record(messages: list[dict[str, Any]]) -> None:
        seen.extend(messages)

    uuid_text = "123e4567-e89b-12d3-a456-426614174000"
    message = user_message(uuid_text)
    message["parts"].append({"kind": "data", "data": {"n": 1, "f": 1.5, "b": True}})
    async with running_agent(record, mode_settings) as (_rt, client):
        reply = await rpc(
            client,
            "message/send",
            {"message": message, "configuration": {"blocking": True}},
        )

    assert reply["result"]["status"]["state"] == "completed"
    assert seen[0]["parts"] == message["parts"]
    assert isinstance(seen[0]["parts"][0]["text"], str)


async def test_get_task_route_card_and_batch(mode_settings: Settings) -> None:
    """GET /tasks/{id}, both agent card paths, and a JSON-RPC batch."""
    async with running_agent(echo, mode_settings) as (_rt, client):
        task = await send(client, "a", blocking=True)
        by_route = await client.get(f"/tasks/{task['id']}")
        missing = await client.get("/tasks/nope")
        cards = [
            await client.get(p)
            for p in ("/.well-known/agent.json", "/.well-known/agent-card.json")
        ]
        batch = await client.post(
            "/",
            json=[
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "tasks/get",
                    "params": {"id": task["id"]},
                },
                {"jsonrpc": "2.0", "id": 2, "method": "nope"},
            ],
        )

    assert by_route.json()["status"]["state"] == "completed"
    assert missing.status_code == 404
    assert [c.json()["name"] for c in cards] == ["test_agent", "test_agent"]
    replies = {r["id"]: r for r in batch.json()}
    assert replies[1]["result"]["id"] == task["id"]
    assert replies[2]["error"]["code"] == -32601


async def test_oversized_body_is_refused(mode_settings: Settings) -> None:
    """A body above max_body_bytes gets -32600 and creates no task."""
    async with running_agent(echo, mode_settings, max_body_bytes=2048) as (_, client):
        big = await rpc(client, "message/send", {"message": user_message("x" * 5000)})
        listed = await rpc(client, "tasks/list", {})

    assert big["error"]["code"] == -32600
    assert "2048" in big["error"]["message"]
    assert listed["result"]["totalSize"] == 0
