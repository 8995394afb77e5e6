"""Commands say what to do (imperative names); events say what happened (past tense)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    pass


@dataclass(frozen=True)
class Event:
    pass
