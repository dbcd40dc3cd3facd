"""The actor kernel: inboxes, ask, supervision, settings, codec, asyncio bridge.

It knows nothing about tasks and never imports `actors`.
"""

from runtime.errors import ConfigError, DecodeError
from runtime.mailbox import (
    ActorGone,
    AskTimeout,
    Mailbox,
    Reply,
    ask,
    batches,
    open_mailbox,
    receive_batch,
)
from runtime.settings import Settings, load_settings
from runtime.supervisor import ChildSpec, Escalation, RestartPolicy, Supervisor

__all__ = [
    "ActorGone",
    "AskTimeout",
    "ChildSpec",
    "ConfigError",
    "DecodeError",
    "Escalation",
    "Mailbox",
    "Reply",
    "RestartPolicy",
    "Settings",
    "Supervisor",
    "ask",
    "batches",
    "load_settings",
    "open_mailbox",
    "receive_batch",
]
