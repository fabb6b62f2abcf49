"""User errors (bad config, missing data) end a run with one paragraph and exit code 2, not a traceback."""
from __future__ import annotations

import sys
import textwrap
from contextlib import contextmanager
from typing import Iterator

from hydra.errors import InstantiationException

from input_pipeline.arrays import DataError
from schedulers import ScheduleConfigError


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the field, its value and what is valid."""


USER_ERRORS = (ConfigError, DataError, ScheduleConfigError)


def fail(message: str, code: int = 2) -> None:
    print("error: " + textwrap.fill(" ".join(message.split()), width=100, subsequent_indent="  "), file=sys.stderr)
    sys.exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except USER_ERRORS as error:
        fail(str(error))
    except InstantiationException as error:  # hydra wraps what a `_target_` raised
        if isinstance(error.__cause__, USER_ERRORS):
            fail(str(error.__cause__))
        raise
