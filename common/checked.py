"""Config groups as checked dataclasses: each field carries its rule, and construction reports every broken one.

A group is a dataclass deriving from `Checked` whose fields are declared with `rule(...)` or `choice(...)`;
`__post_init__` checks every field and raises one `FieldProblems` (a ConfigError) naming each bad field
with its value and what would be valid, e.g. `data.augment.rotation=400 is not valid: it must be ...`.
A field left at `ABSENT` (the composed config does not have it) is not checked. Annotations stay types
OmegaConf can read (str, not Literal), so a group can be registered in Hydra's ConfigStore; the choices of
a `choice` field come from a `Literal` alias by `typing.get_args`, kept where the values are used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar, Optional, get_args

from common.errors import ConfigError

ABSENT: Any = "???"  # omegaconf.MISSING: a field the composed config does not have (a value "???" cannot be read)
Check = Callable[[Any], bool]


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def whole(low: int, high: Optional[int] = None) -> Check:
    return lambda v: is_int(v) and v >= low and (high is None or v <= high)


def number(low: float = -math.inf, high: float = math.inf, low_open: bool = False, high_open: bool = False) -> Check:
    def check(v: Any) -> bool:
        return is_number(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    return check


def boolean(v: Any) -> bool:
    return isinstance(v, bool)


def numbers(count: Optional[int], each: Check) -> Check:
    return lambda v: isinstance(v, (list, tuple)) and (count is None or len(v) == count) and all(each(x) for x in v)


@dataclass(frozen=True)
class Rule:
    """What a field's value must satisfy, and that rule in words (the end of the message when it does not)."""

    check: Check
    valid: str


def rule(check: Check, valid: str, default: Any = ABSENT) -> Any:
    """A dataclass field checked by `check`; `valid` says what is valid, e.g. "a whole number >= 1"."""
    return field(default=default, metadata={"rule": Rule(check, valid)})


def choice(kind: Any, valid: Optional[str] = None, default: Any = ABSENT) -> Any:
    """A field whose value is one of the `Literal` alias `kind`'s values (listed as "a or b" unless `valid` says more)."""
    choices = get_args(kind)
    return rule(lambda v: isinstance(v, str) and v in choices, valid or " or ".join(choices), default)


def group(kind: type) -> Any:
    """A field holding the nested group `kind` (e.g. data.augment inside data), checked on its own."""
    return field(default_factory=kind, metadata={"group": kind})


class FieldProblems(ConfigError):
    """Every field of one group that breaks its rule: `problems` are the phrases, the message joins them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems) + ".")
        self.problems = problems


class Checked:
    """Base of a checked config group; `GROUP` is its dotted place in the config ("" for the top level)."""

    GROUP: ClassVar[str] = ""

    @classmethod
    def key(cls, name: str) -> str:
        return f"{cls.GROUP}.{name}" if cls.GROUP else name

    @classmethod
    def rules(cls) -> dict[str, Rule]:
        """{field name: its rule} of the fields that have one (nested groups have their own)."""
        return {f.name: f.metadata["rule"] for f in fields(cls) if "rule" in f.metadata}

    def __post_init__(self) -> None:
        problems = [f"{self.key(name)}={value!r} is not valid: it must be {r.valid}"
                    for name, r in self.rules().items()
                    if (value := getattr(self, name)) is not ABSENT and not r.check(value)]
        problems += self.cross_field_problems()
        if problems:
            raise FieldProblems(problems)

    def cross_field_problems(self) -> list[str]:
        """Rules between this group's fields (none by default); each applies only when its fields are valid."""
        return []
