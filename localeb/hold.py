"""Holds: a test stops the stand-in's background work at a named phase, acts, then lets it go on.

Not an AWS behaviour: a control for tests, so that a test that must act while an update runs (a Ctrl-C, a second
client) meets the update where it needs it instead of racing it. A hold is armed for one phase; every work item (an
update's or a launch's thread) that reaches that phase waits there, without the backend's lock, so every read keeps
answering, until the hold is released or its own deadline passes (a test that forgets to release never hangs the
server).
"""

from __future__ import annotations

import threading
import time
from typing import Any

# Where the background work of CreateEnvironment and UpdateEnvironment can be held, in the order it reaches them.
PHASES = {
    "launch-started": "CreateEnvironment accepted and `createEnvironment is starting.` emitted; nothing launched yet",
    "update-started": "UpdateEnvironment accepted and `Environment update is starting.` emitted; nothing deployed yet",
    "deploying": "`Deploying new version to instance(s).` emitted (a launch: its instances announced); nothing installed",
    "closing": "the work is done; just before the closing event and Ready",
}
DEFAULT_SECONDS = 300.0


class Holds:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._phase: str | None = None
        self._deadline = 0.0
        self._waiting = 0
        self._reached = 0

    def arm(self, phase: str, seconds: float = DEFAULT_SECONDS) -> dict[str, Any]:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
        if not 0 < seconds <= 3600:
            raise ValueError("seconds (the hold's own deadline) must be more than 0 and at most 3600")
        with self._changed:
            self._phase, self._deadline, self._reached = phase, time.monotonic() + seconds, 0
            self._changed.notify_all()
            return self._describe()

    def release(self) -> dict[str, Any]:
        with self._changed:
            self._phase = None
            self._changed.notify_all()
            return self._describe()

    def describe(self) -> dict[str, Any]:
        with self._changed:
            return self._describe()

    def reach(self, phase: str) -> None:
        """Called by the background work at `phase`: waits while a hold on it is armed."""
        with self._changed:
            if not self._armed(phase):
                return
            self._reached += 1
            self._waiting += 1
            try:
                while self._armed(phase):
                    self._changed.wait(max(0.0, self._deadline - time.monotonic()))
            finally:
                self._waiting -= 1

    def _armed(self, phase: str) -> bool:
        if self._phase is not None and time.monotonic() >= self._deadline:
            self._phase = None  # its own deadline: released
        return self._phase == phase

    def _describe(self) -> dict[str, Any]:
        armed = self._phase is not None and time.monotonic() < self._deadline
        return {
            "phase": self._phase if armed else None,
            "waiting": self._waiting,
            "reached": self._reached,
            "seconds_left": round(max(0.0, self._deadline - time.monotonic()), 1) if armed else 0,
        }
