"""Fakes for the pipeline steps' unit tests: a next step that records what it is given."""

from __future__ import annotations

from typing import Any

from pipeline.steps.base import MessageRejected


class NextStep:
    """Takes what it is given unless told to refuse; remembers how it was joined or terminated."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.refusing = False
        self.polls = 0
        self.joined: float | None = None
        self.terminated = False

    def submit(self, item: Any) -> None:
        assert self.joined is None and not self.terminated, "submitted after join/terminate"
        if self.refusing:
            raise MessageRejected()
        self.items.append(item)

    def poll(self) -> None:
        self.polls += 1

    def join(self, timeout_s: float) -> None:
        self.joined = timeout_s

    def terminate(self) -> None:
        self.terminated = True


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
