"""Opt-out and opt-in keywords: a message that is exactly STOP (or PARAR, BAJA, START…),
whatever its case and accents, with the spaces and punctuation around it trimmed."""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

MAX_KEYWORD = 40
_TRIM = " \t\r\n\u00a0.,;:!?¡¿\"'()[]*_~-"


def fold(text: str) -> str:
    """Upper case, accents and surrounding punctuation removed: "  Páre! " is "PARE"."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.strip(_TRIM).casefold().upper()


@dataclass(frozen=True)
class Keywords:
    opt_out: frozenset[str]
    opt_in: frozenset[str]

    @classmethod
    def of(cls, opt_out: Iterable[str], opt_in: Iterable[str]) -> "Keywords":
        return cls(
            frozenset(f for f in (fold(k) for k in opt_out) if f),
            frozenset(f for f in (fold(k) for k in opt_in) if f),
        )

    def match(self, text: str | None) -> tuple[Literal["opt_out", "opt_in"], str] | None:
        """("opt_out", "STOP") when the whole message is an opt-out keyword, ("opt_in", …) for
        a re-subscribe keyword, None for anything else."""
        if not text or len(text) > MAX_KEYWORD * 2:
            return None
        word = fold(text)
        if not word or len(word) > MAX_KEYWORD:
            return None
        if word in self.opt_out:
            return "opt_out", word
        if word in self.opt_in:
            return "opt_in", word
        return None
