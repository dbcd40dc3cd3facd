"""One converter for every message that crosses a process boundary.

Messages are attrs classes; the wire form is JSON (orjson). Decoding
failures are raised as `DecodeError` so receivers can dead-letter them.
"""

from __future__ import annotations

from typing import Any, TypeVar

import cattrs
import orjson

from runtime.errors import DecodeError

T = TypeVar("T")

converter = cattrs.Converter()


def encode(message: Any) -> bytes:
    """The JSON bytes of an attrs message."""
    return orjson.dumps(converter.unstructure(message))


def decode(data: bytes | str, cls: type[T]) -> T:
    """Parse `data` into `cls`, raising `DecodeError` for anything malformed."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None

    try:
        return converter.structure(raw, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise DecodeError(f"not a {cls.__name__}: {exc!r}") from None
