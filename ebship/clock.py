"""Time for every wait: a clock that tests replace with a fake one, and the deadline that bounds a wait."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Deadline:
    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.at = clock.monotonic() + seconds
        self.seconds = seconds

    @property
    def left(self) -> float:
        return self.at - self.clock.monotonic()

    @property
    def passed(self) -> bool:
        return self.left <= 0

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(max(0.0, min(seconds, self.left)))
