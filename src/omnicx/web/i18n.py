"""The console's languages: English as written, Portuguese (Brazil) and Spanish from the
gettext catalogs under `locale/<language>/*.po` (one catalog per console area).

Catalogs are compiled in memory when first used, so there is no build step; a message with no
translation shows in English.
"""

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE = Path(__file__).parent / "locale"
FOLDERS = {"pt-BR": "pt_BR", "es": "es"}
"""The folder of each translated language (as `omnicx.access.LANGUAGES` names them)."""


def catalog(language: str) -> Catalog:
    """Every message of one language, from all its catalogs."""
    merged = Catalog(locale=FOLDERS[language], domain="console")
    for path in sorted((LOCALE / FOLDERS[language]).glob("*.po")):
        with path.open("rb") as file:
            for message in read_po(file, locale=FOLDERS[language]):
                if message.id and message.string:
                    merged[message.id] = message
    return merged


@lru_cache(maxsize=len(FOLDERS) + 1)
def translations(language: str) -> gettext.NullTranslations:
    if language not in FOLDERS:
        return gettext.NullTranslations()
    compiled = BytesIO()
    write_mo(compiled, catalog(language))
    compiled.seek(0)
    return Translations(compiled, domain="console")


class Translator:
    """Messages of one language, with `%(name)s` placeholders filled."""

    def __init__(self, language: str) -> None:
        self._tr = translations(language)

    def gettext(self, message: str, **values: Any) -> str:
        text = self._tr.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return self._tr.ngettext(singular, plural, n) % {"n": n, **values}


def N_(message: str) -> str:
    """Marks a message for translation where it is defined; it is translated where shown."""
    return message


KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
"""The functions whose literal arguments are console messages."""


def messages() -> set[str]:
    """Every message the console's templates and page code show (singular and plural)."""
    found: set[str] = set()
    root = Path(__file__).parent
    method_map = [
        ("templates/**.html", "jinja2.ext:babel_extract"),
        ("**.py", "python"),
    ]
    for _filename, _line, message, _comments, _context in extract_from_dir(
        root, method_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        if isinstance(message, tuple):
            found.update(m for m in message if m)
        elif message:
            found.add(message)
    return found


def known_ids(known: Catalog) -> dict[str, str]:
    """Each translated message id of a catalog (a plural's singular and plural forms alike)
    and its translation (a plural's last form)."""
    found: dict[str, str] = {}
    for message in known:
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = message.string
        string = forms if isinstance(forms, str) else ["", *(forms or ())][-1]
        for id_ in ids:
            if id_:
                found[id_] = string
    return found


def missing(language: str) -> list[str]:
    """Messages with no translation into `language`, sorted."""
    known = known_ids(catalog(language))
    return sorted(m for m in messages() if m not in known)


if __name__ == "__main__":
    for language in FOLDERS:
        gaps = missing(language)
        print(f"# {language}: {len(gaps)} messages without a translation")
        for gap in gaps:
            print(f'msgid "{gap}"\nmsgstr ""\n')
