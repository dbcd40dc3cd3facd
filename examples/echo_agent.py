"""The smallest agent: it answers every message with its own text.

Run it with `python examples/echo_agent.py`; it serves on 127.0.0.1:3773
(`HOST` and `PORT` override).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import serve  # noqa: E402

config = {
    "author": "you@example.com",
    "name": "echo_agent",
    "description": "Answers every message with its own text.",
    "deployment": {"url": "http://127.0.0.1:3773", "expose": True},
    "skills": ["skills/echo"],
}


def handler(messages):
    """Reply with the text of the last message."""
    last = messages[-1]
    texts = [part["text"] for part in last["parts"] if part["kind"] == "text"]
    return "echo: " + " ".join(texts)


if __name__ == "__main__":
    serve(config, handler)
