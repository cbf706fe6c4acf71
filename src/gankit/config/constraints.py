"""Constraints on configuration values, declared once per field.

As scikit-learn's ``_parameter_constraints``: each field of a config section
carries one constraint (`rule`), `check_fields` checks a whole section with
them, and the tests ask each constraint for values it refuses (``invalid``),
so that every field's one-line error is tested.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from gankit.errors import UserError


@dataclass(frozen=True)
class Interval:
    """A finite number of ``kind`` (int or float) between ``low`` and ``high`` (None: unbounded)."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # which ends belong: "both", "left", "right" or "neither"

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float) if self.kind is float else int):
            return False
        if not math.isfinite(value):
            return False
        low_ok = self.low is None or value > self.low or (value == self.low and self.closed in ("both", "left"))
        high_ok = self.high is None or value < self.high or (value == self.high and self.closed in ("both", "right"))
        return low_ok and high_ok

    def describe(self) -> str:
        if self.low is None and self.high is None:
            return "a finite number"
        if self.kind is float and self.low == 0 and self.high is None:
            return "a positive number" if self.closed in ("neither", "right") else "a non-negative number"
        if self.high is None:
            return f"at least {self.low:g}"
        if self.low is None:
            return f"at most {self.high:g}"
        left, right = "[" if self.closed in ("both", "left") else "(", "]" if self.closed in ("both", "right") else ")"
        return f"in {left}{self.low:g}, {self.high:g}{right}"

    def invalid(self) -> list[Any]:
        """Values this constraint refuses (for tests): the wrong type, NaN or a fraction, just outside each end."""
        out: list[Any] = ["text", math.nan if self.kind is float else 1.5]
        step = 1 if self.kind is int else 1e-3
        if self.low is not None:
            out.append(self.low - step if self.closed in ("both", "left") else self.low)
        if self.high is not None:
            out.append(self.high + step if self.closed in ("both", "right") else self.high)
        return out


@dataclass(frozen=True)
class Options:
    """One of ``choices`` (a tuple, or a function returning one: a registry read when needed)."""

    choices: Any
    what: str  # how the message names it: "unknown {what} 'x' (choose from ...)"

    def names(self) -> tuple:
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def holds(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.names()

    def invalid(self) -> list[Any]:
        return ["no-such-choice", 3]


@dataclass(frozen=True)
class Each:
    """A list whose every item holds ``item``, with at least ``min_len`` items."""

    item: Any
    min_len: int = 0

    def holds(self, value: Any) -> bool:
        return isinstance(value, list) and len(value) >= self.min_len and all(self.item.holds(v) for v in value)

    def describe(self) -> str:
        size = "a non-empty list" if self.min_len == 1 else f"a list of at least {self.min_len} items" \
            if self.min_len else "a list"
        return f"{size}, each {self.item.describe()}"

    def invalid(self) -> list[Any]:
        return [[bad] for bad in self.item.invalid()] + ([[]] if self.min_len else []) + ["text"]


@dataclass(frozen=True)
class Kind:
    """Any value of one type: a bool, or a string (non-empty unless ``empty``)."""

    kind: type
    empty: bool = False

    def holds(self, value: Any) -> bool:
        return isinstance(value, self.kind) and (self.empty or value != "")

    def describe(self) -> str:
        if self.kind is bool:
            return "true or false"
        return "a string" if self.empty else "a non-empty string"

    def invalid(self) -> list[Any]:
        return [2.5] + ([""] if self.kind is str and not self.empty else [])


@dataclass(frozen=True)
class Matches:
    """A string matching a regular expression in full, described as ``what``."""

    pattern: str
    what: str

    def holds(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None

    def describe(self) -> str:
        return self.what

    def invalid(self) -> list[Any]:
        return ["no-such-thing", 3]


def rule(constraint: Any, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its constraint: ``n: int = rule(Interval(int, 2), 1000)``."""
    return field(default=default, default_factory=factory, metadata={"constraint": constraint})


def check_fields(section: str, obj: Any) -> None:
    """Check every field of a section against its declared constraint; `UserError` names the first bad one."""
    for f in dataclasses.fields(obj):
        constraint, value = f.metadata["constraint"], getattr(obj, f.name)
        if not constraint.holds(value):
            if isinstance(constraint, Options):
                raise UserError(f"unknown {constraint.what} {value!r} (choose from {', '.join(constraint.names())})")
            raise UserError(f"{section}.{f.name} must be {constraint.describe()}, got {value!r}")


__all__ = ["Each", "Interval", "Kind", "Matches", "Options", "check_fields", "rule"]
