"""How entry points present user errors: one paragraph on stderr and exit code 2, never a traceback.

The error classes themselves live in the leaf module common.errors, so that every package can raise
them without importing the engine.
"""
from __future__ import annotations

import sys
import textwrap
from contextlib import contextmanager
from typing import Iterator, NoReturn

from hydra.errors import InstantiationException

from common.errors import ConfigError, DataError, UserError

__all__ = ["ConfigError", "DataError", "UserError", "fail", "paragraph", "user_errors"]


def paragraph(message: str, prefix: str = "error: ") -> str:
    """`message` as one wrapped paragraph; words (paths, overrides) are never broken across lines."""
    return textwrap.fill(prefix + " ".join(message.split()), width=100, subsequent_indent="  ",
                         break_long_words=False, break_on_hyphens=False)


def fail(message: str, code: int = 2) -> NoReturn:
    print(paragraph(message), file=sys.stderr)
    sys.exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a UserError raised in the block (also one wrapped by Hydra's instantiate) into `fail`."""
    try:
        yield
    except UserError as error:
        fail(str(error))
    except InstantiationException as error:  # hydra wraps what a `_target_` raised
        if isinstance(error.__cause__, UserError):
            fail(str(error.__cause__))
        raise
