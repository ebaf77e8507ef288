"""A module exercising every Python operator: the tests mutate it, never import it."""
# ruff: noqa: UP037, SIM201  (the odd forms are on purpose)
from __future__ import annotations

import asyncio
from typing import Literal

LIMIT: int = 10
NAMES = ("a", "b")


def clamp(value: float, low: float = 0.0, high: "float" = 1.0) -> float:
    """Keep value within [low, high]."""
    if value < low:
        return low
    if value > high:
        return high
    return value


def stats(items: list[int]) -> dict[str, float]:
    total = 0
    count = 0
    for item in items:
        if item is None or item in (0,):
            continue
        if item >= LIMIT and not item % 2 == 0:
            break
        total += item * 2 - 1
        count += 1
    mean = total / count if count != 0 else 0.0
    return {"total": total, "mean": mean // 1, "power": 2**3, "shift": (1 << 2) >> 1, "bits": 5 & 3 | 1 ^ 2}


class Greeter:
    """Says hello."""

    greeting: Literal["hi", "hello"] = "hello"
    loud = False

    def greet(self, name: str) -> str:
        print("greeting", name)
        text = f"{self.greeting}, {name}"
        if self.loud and name != "":
            return text.upper()
        return text

    def nested(self) -> int:
        def inner(x: int) -> int:
            return x + 1

        return inner(41)  # pragma: no mutate


async def fetch(flag: bool = True) -> bool | None:
    await asyncio.sleep(0)
    if flag is not True:
        return None
    return False
