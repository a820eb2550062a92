"""Translation of visible strings: the message catalogues and the functions templates and
handlers call. English is the source language; Simplified Chinese is the one translation.

The catalogue is ``portal/locale/<language>/LC_MESSAGES/messages.po``, kept in the package
and compiled in memory when the language is first asked for (babel ``read_po`` and
``write_mo``). There is no ``.mo`` file to build or to go stale: what the ``.po`` says is what
the pages show, on an editable and a built install alike. ``docs/I18N.md`` says how strings
are marked, extracted and translated.

The request's language is ``current_language``, set for each request by
``portal.language.LanguageMiddleware``.
"""

from __future__ import annotations

import gettext
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
#: Every language the interface reads in, by gettext code, as its readers name it.
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
#: The same languages as BCP 47 tags, for ``<html lang>`` and ``hreflang``.
HTML_LANG = {"en": "en", "zh_CN": "zh-CN"}
current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def _catalog(language: str) -> gettext.NullTranslations:
    path = catalogue_path(language)
    if language == DEFAULT_LANGUAGE or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    # Fuzzy entries (a translation babel guessed while updating) are left out, as msgfmt
    # does: an unreviewed translation must not reach a regulated record's reader.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def gettext_(message: str) -> str:
    """``message`` in the request's language (English when it has no translation)."""
    return _catalog(current_language.get()).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return _catalog(current_language.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a string for extraction where it is defined; it is translated where it is
    shown, with ``translate`` (a label in a table, a notice handed to a template)."""
    return message


def translate(value: object) -> object:
    """The template filter for words that reach a template as data: a status, a role, a
    signature's meaning, a message marked with ``N_``. Looked up as they are; anything the
    catalogue does not hold (a lot number, a message built with values) stays as it is.

    Templates use this, not ``_()``, for anything that is not a literal: Jinja's ``_()``
    marks its result safe and %-formats it, which is right for a reviewed catalogue string
    and wrong for data (markup in it would not be escaped; a ``%`` in it would fail)."""
    # A refusal of the material gate (trace_core.gates.rules.Phrase): pattern and values.
    localized = getattr(value, "localized", None)
    if isinstance(value, str) and callable(localized):
        return localized(gettext_)
    if isinstance(value, str) and value:
        return gettext_(value)
    return value


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The reader's choice (the ``lang`` cookie the language switch sets), else the first
    language of the browser's Accept-Language we have (any Chinese reads Simplified
    Chinese), else English."""
    if cookie in LANGUAGES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            continue  # q=0: "not this one"
        if tag == "zh" or tag.startswith("zh-"):
            return "zh_CN"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return DEFAULT_LANGUAGE
