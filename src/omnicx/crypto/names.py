"""Which dictionary keys hold sensitive values.

A key is compared after normalising (lower case, without `_`, `-`, `.` and spaces), so
`dateOfBirth`, `date_of_birth` and `Date-of-Birth` are one name. Each configured field brings
its usual spellings (`birthday` also covers `dob` and `birthdate`), and a key that ends in a
sensitive word of five letters or more is sensitive too (`billing_address`, `work_email`,
`mobilePhone`). Answers are cached, so the check costs one dictionary look-up on a hot path.
"""

ALIASES: dict[str, frozenset[str]] = {
    "email": frozenset({"email", "emailaddress", "mail"}),
    "phone": frozenset({"phone", "phonenumber", "mobile", "mobilephone", "telephone", "tel"}),
    "address": frozenset(
        {"address", "street", "streetaddress", "address1", "address2", "addressline1"}
        | {"addressline2", "postaladdress", "homeaddress"}
    ),
    "birthday": frozenset({"birthday", "dateofbirth", "dob", "birthdate"}),
    "dateofbirth": frozenset({"birthday", "dateofbirth", "dob", "birthdate"}),
    "notes": frozenset({"notes", "note"}),
}

_DROP = str.maketrans("", "", "_-. ")
_CACHE_LIMIT = 50_000


def normalise(key: str) -> str:
    return key.lower().translate(_DROP)


class SensitiveNames:
    def __init__(self, fields: frozenset[str]) -> None:
        exact: set[str] = set()
        for name in fields:
            word = normalise(name)
            if word:
                exact |= ALIASES.get(word, frozenset({word}))
        self.exact = frozenset(exact)
        self.suffixes = tuple(sorted(w for w in exact if len(w) >= 5))
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.exact)

    def __call__(self, key: str) -> bool:
        hit = self._cache.get(key)
        if hit is None:
            word = normalise(key)
            hit = word in self.exact or word.endswith(self.suffixes)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = hit
        return hit
