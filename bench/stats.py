"""Per-round statistics: every ratio and difference of the benchmark is taken
within one round (its blocks ran seconds apart) and summarised over the rounds
by its median and interquartile range."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Median and quartiles (q1, q3) of one quantity over the rounds."""

    median: float
    q1: float
    q3: float
    rounds: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        values = list(values)
        if not values:
            raise ValueError("no rounds to summarise")
        if len(values) == 1:
            return cls(values[0], values[0], values[0], 1)
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return cls(median, q1, q3, len(values))

    def fmt(self, scale: float = 1.0, digits: int = 2, unit: str = "", sign: bool = False) -> str:
        """``1.23× (1.10–1.40)``: median, then q1–q3."""
        spec = f"{'+' if sign else ''}.{digits}f"
        m, a, b = (format(v * scale, spec) for v in (self.median, self.q1, self.q3))
        return f"{m}{unit} ({a}–{b})"


def differences(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """a − b, round by round."""
    return [x - y for x, y in zip(a, b, strict=True)]


def ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """a / b, round by round."""
    return [x / y for x, y in zip(a, b, strict=True)]


def at_most(spread: Spread, limit: float) -> bool:
    """A ``≤ limit`` target is met only when the upper quartile meets it."""
    return spread.q3 <= limit


def below(spread: Spread, limit: float) -> bool:
    """A ``< limit`` target (e.g. "faster": difference < 0), upper quartile."""
    return spread.q3 < limit
