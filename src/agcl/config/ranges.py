"""The allowed values of every numeric setting, defined once and checked everywhere.

A config section checks its fields in ``__post_init__`` (``check("optim.lr", self.lr, POSITIVE)``) and a
command checks its options with the same :class:`Range` (``check("--seed", seed, SEED)``), so a value the
CLI refuses is refused in a YAML file too, with the same bounds and the same message: the key or flag, the
allowed range and the value given. Every range refuses NaN and infinities. A new setting picks one of
the ranges below (or defines its own next to them) and adds one ``check`` line where it is declared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from agcl.errors import ConfigError, short_repr


@dataclass(frozen=True)
class Range:
    """A closed or half-open interval of finite numbers (``None`` = unbounded on that side)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def describe(self) -> str:
        """``> 0``, ``>= 1``, ``in [0, 1)`` …"""
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}" if self.low is not None else "a finite number"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def check(name: str, value: Any, allowed: Range) -> Any:
    """Return ``value`` when ``allowed`` contains it, else raise a ConfigError naming ``name`` (a config
    key such as ``eval.t`` or a flag such as ``--t``), the range and the value."""
    if allowed.contains(value):
        return value
    finite = "" if isinstance(value, int | float) and math.isfinite(value) else "a finite number "
    raise ConfigError(f"{name} must be {finite}{allowed.describe()}, got {short_repr(value)}")


#: Seeds of numpy/torch generators (numpy refuses negative seeds; 2**32 - 1 is the common maximum).
SEED = Range(0, 2**32 - 1)
POSITIVE = Range(0, None, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
#: Probabilities, precisions, thresholds on a probability, fractions of a set.
UNIT = Range(0, 1)
#: The overlap threshold T of Table 2 (a strict ``>``: T = 1 could never be met).
OVERLAP_T = Range(0, 1, high_open=True)
#: Side S of the square network input / image cache, in pixels.
IMAGE_SIZE = Range(8, 4096)
#: Worker processes or threads.
WORKERS = Range(0, 512)
#: Bootstrap resamples.
BOOTSTRAP = Range(0, 100_000)
#: A length in original image pixels (pointing-game tolerance, upsampling grids).
PIXELS = Range(0, 4096)
