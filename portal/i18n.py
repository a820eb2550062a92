"""Translation of visible strings. Templates call ``_()``; the language comes from the
``lang`` cookie or the browser's Accept-Language (English default, Simplified Chinese).
Catalogs are gettext ``.mo`` files under ``portal/locale``."""

from __future__ import annotations

import gettext
from contextvars import ContextVar
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
current_language: ContextVar[str] = ContextVar("current_language", default="en")


@cache
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation("messages", LOCALE_DIR, languages=[language], fallback=True)


def gettext_(message: str) -> str:
    return _catalog(current_language.get()).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return _catalog(current_language.get()).ngettext(singular, plural, n)


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return "en"
