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
class Settle(Event):
    """Asks its handlers to apply, set-based, what the transaction's reactions collected so
    far (read models' counters, say). A batch of independent changes sharing one transaction
    (inbound messages, each in a savepoint) delivers it once, after its last part, instead of
    after every part; handlers must therefore be idempotent and skip what a rolled-back
    savepoint heard."""


@dataclass(frozen=True)
class Query:
    pass
