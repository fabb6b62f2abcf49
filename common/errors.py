"""The one base class of user-facing errors: bad config, missing data, unreadable files.

Every package raises a subclass of UserError for a problem the user can fix; entry points turn it
into one paragraph on stderr and exit code 2 (engine.platform.errors.user_errors), never a traceback.
"""
from __future__ import annotations

from typing import Optional


class UserError(Exception):
    """A problem the user can fix; the message names the value, where it came from, and what would be valid.

    `command`: a shell command that does what the message advises, printed alone on the line after it."""

    def __init__(self, message: str = "", command: Optional[str] = None) -> None:
        super().__init__(message)
        self.command = command


class ConfigError(UserError, ValueError):
    """A configuration value that cannot work; the message names the field, its value and what is valid."""


class DataError(UserError, RuntimeError):
    """A dataset that is missing, corrupt or unsafe; the message says where and what to do."""
