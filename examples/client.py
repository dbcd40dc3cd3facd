"""Send one message to an agent over HTTP and follow its task to the end.

    python examples/client.py [URL] [TEXT] [--cancel-after N]

Prints each state the task passes through. Uses only the standard library.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
import uuid
from typing import Any

FINAL = {"completed", "failed", "canceled", "rejected", "input-required"}


def call(url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method}
    body["params"] = params
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        reply = json.load(response)
    if "error" in reply:
        raise SystemExit(f"error {reply['error']['code']}: {reply['error']['message']}")
    return reply["result"]


def describe(task: dict[str, Any]) -> str:
    status = task["status"]
    line = status["state"]
    message = status.get("message")
    if message:
        texts = [p.get("text", "") for p in message["parts"] if p["kind"] == "text"]
        line += ": " + " ".join(texts)
    return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:3773/")
    parser.add_argument("text", nargs="?", default="hello agent")
    parser.add_argument("--cancel-after", type=float, default=None)
    args = parser.parse_args()

    message = {
        "role": "user",
        "messageId": str(uuid.uuid4()),
        "parts": [{"kind": "text", "text": args.text}],
    }
    task = call(args.url, "message/send", {"message": message})
    print(f"task {task['id']}")

    started = time.monotonic()
    last = None
    while True:
        line = describe(task)
        if line != last:
            print(line, flush=True)
            last = line
        if task["status"]["state"] in FINAL:
            return
        if (
            args.cancel_after is not None
            and time.monotonic() - started > args.cancel_after
        ):
            print("canceling", flush=True)
            task = call(args.url, "tasks/cancel", {"id": task["id"]})
            args.cancel_after = None
            continue
        time.sleep(0.1)
        task = call(args.url, "tasks/get", {"id": task["id"]})


if __name__ == "__main__":
    main()
