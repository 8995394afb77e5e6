"""Every message the console shows is translated into each of its languages."""

import pytest

from omnicx.access import LANGUAGES
from omnicx.web.i18n import FOLDERS, catalog, known_ids, messages, missing, translations


def test_the_console_languages_are_the_staff_languages() -> None:
    assert set(FOLDERS) | {"en"} == set(LANGUAGES)


@pytest.mark.parametrize("language", sorted(FOLDERS))
def test_every_message_has_a_translation(language: str) -> None:
    assert missing(language) == []


@pytest.mark.parametrize("language", sorted(FOLDERS))
def test_placeholders_survive_translation(language: str) -> None:
    known = known_ids(catalog(language))
    for message in messages():
        if "%(" in message:
            translated = known[message]
            for name in sorted({part.split(")")[0] for part in message.split("%(")[1:]}):
                assert f"%({name})" in translated, (language, message)


def test_translations_are_used() -> None:
    assert translations("pt-BR").gettext("Sign out") == "Sair"
    assert translations("es").gettext("Sign out") == "Cerrar sesión"
    assert translations("en").gettext("Sign out") == "Sign out"
