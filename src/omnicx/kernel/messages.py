"""Commands say what to do (imperative names); events say what happened (past tense);
queries ask every domain that answers them for its part (a subject-access export, say)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    pass


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class Query:
    pass
