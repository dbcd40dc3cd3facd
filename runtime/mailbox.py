"""Bounded inboxes and the ask pattern that actors use to talk.

An actor is reached only through its inbox. A request that needs an answer
carries a one-shot `Reply`; the asker waits on the other end with a timeout.
Inboxes are bounded on purpose: a full inbox slows the sender down instead of
growing without limit or dropping a message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

import attrs
import trio

T = TypeVar("T")
M = TypeVar("M")

DEFAULT_CAPACITY = 1024


class AskTimeout(TimeoutError):
    """The actor did not answer in time; it may be overloaded or stopped.

    The request may still be carried out later: callers that retry must be
    idempotent or re-read the state first.
    """


class ActorGone(RuntimeError):
    """The actor's inbox is closed, so it is shutting down or has stopped."""


@attrs.frozen
class _Failure:
    error: BaseException


class _Slot:
    """Where one answer lands; cheaper than a channel for a single value."""

    __slots__ = ("filled", "value")

    def __init__(self) -> None:
        self.filled = trio.Event()
        self.value: Any = None


@attrs.frozen
class Mailbox(Generic[M]):
    """Both ends of one actor's inbox."""

    send: trio.MemorySendChannel[M]
    receive: trio.MemoryReceiveChannel[M]


def open_mailbox(capacity: int = DEFAULT_CAPACITY) -> Mailbox[Any]:
    """Make a bounded inbox; the capacity is the back-pressure threshold."""
    send, receive = trio.open_memory_channel[Any](capacity)
    return Mailbox(send, receive)


class Reply(Generic[T]):
    """The one-shot answer port carried by a request.

    Answering never blocks and never raises; only the first answer counts.
    An asker that gave up (timed out or was cancelled) never reads it.
    """

    __slots__ = ("_slot", "_value", "_error")

    def __init__(
        self,
        slot: _Slot,
        value: Callable[[Any], T] | None = None,
        error: Callable[[BaseException], BaseException] | None = None,
    ) -> None:
        self._slot = slot
        self._value = value
        self._error = error

    def send(self, value: Any) -> None:
        if self._value is not None:
            try:
                value = self._value(value)
            except Exception as exc:  # noqa: BLE001 - the asker hears it instead
                self.fail(exc)
                return
        self._deliver(value)

    def fail(self, error: BaseException) -> None:
        """Make the asker's `ask` raise `error`."""
        if self._error is not None:
            error = self._error(error)
        self._deliver(_Failure(error))

    def translated(
        self,
        value: Callable[[Any], T] | None = None,
        error: Callable[[BaseException], BaseException] | None = None,
    ) -> Reply[Any]:
        """A port onto the same asker that translates the answer on the way.

        Lets an actor pass a request on to another actor, which answers the
        original asker directly: one hop instead of two, and no task waiting
        in between. `value` may raise to fail the asker instead; `error`
        maps a failure (and such a raise) before the asker sees it. On a
        port that already translates, the new translation comes first.
        """
        return Reply(self._slot, _then(value, self._value), _then(error, self._error))

    def _deliver(self, item: Any) -> None:
        if not self._slot.filled.is_set():
            self._slot.value = item
            self._slot.filled.set()


def _then(first: Any, second: Any) -> Any:
    """`second` after `first`, where either may be missing (None)."""
    if first is None or second is None:
        return first or second
    return lambda item: second(first(item))


async def ask(
    inbox: trio.MemorySendChannel[M],
    build: Callable[[Reply[T]], M],
    timeout: float = 30.0,
) -> T:
    """Send the request made by `build(reply)` and wait for its answer.

    Raises `AskTimeout` after `timeout` seconds, `ActorGone` if the inbox is
    closed, or whatever the actor passed to `Reply.fail`. Cancelling the
    caller abandons the answer; the request may still be carried out.
    """
    slot = _Slot()
    # A bare deadline scope: `fail_after`'s context-manager wrapper costs a
    # measurable share of every ask on the hot path.
    scope = trio.CancelScope(deadline=trio.current_time() + timeout)
    try:
        with scope:
            await _send(inbox, build(Reply(slot)))
            await slot.filled.wait()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        raise ActorGone("the actor's inbox is closed") from None
    if scope.cancelled_caught:
        raise AskTimeout(f"no answer within {timeout}s")

    result = slot.value
    if isinstance(result, _Failure):
        raise result.error
    return result  # type: ignore[no-any-return]


async def _send(inbox: trio.MemorySendChannel[M], message: M) -> None:
    """Send without a scheduling round when the inbox has room.

    `ask` waits for the answer right after, which is its checkpoint; a
    caller that is already cancelled still sends nothing.
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    try:
        inbox.send_nowait(message)
    except trio.WouldBlock:
        await inbox.send(message)


async def receive_batch(
    receive: trio.MemoryReceiveChannel[M], limit: int = 256
) -> list[M]:
    """Wait for one message, then take whatever else is already waiting.

    Under light load the batch is a single message, so nothing waits for a
    batch to fill. Raises `trio.EndOfChannel` once the inbox is closed and
    drained.
    """
    batch = [await receive.receive()]

    while len(batch) < limit:
        try:
            batch.append(receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break

    return batch


async def batches(
    receive: trio.MemoryReceiveChannel[M], limit: int = 256
) -> AsyncIterator[list[M]]:
    """Every batch (see `receive_batch`) until the inbox is closed and drained.

    The loop of an actor that handles what is waiting all at once.
    """
    while True:
        try:
            yield await receive_batch(receive, limit)
        except trio.EndOfChannel:
            return
