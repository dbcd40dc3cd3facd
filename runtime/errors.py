"""The kernel's small vocabulary of errors."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is missing or malformed; fix the named variable and restart.

    The message names the variable, the value received (secrets masked) and
    what is accepted.
    """


class DecodeError(ValueError):
    """Bytes did not decode into the expected message type.

    Whoever received them should set them aside (dead-letter) and go on.
    """
