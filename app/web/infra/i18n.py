"""English and Korean: Babel .po catalogues compiled in memory at import (no .mo build step),
language negotiation (?lang=, cookie, Accept-Language) and the Jinja gettext callables."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import pass_context
from jinja2.runtime import Context

from app.web.infra.typeset import glue

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES: dict[str, str] = {"en": "English", "ko": "한국어"}
DEFAULT = "en"
COOKIE = "lang"


@cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue for ``lang`` (English falls back to the msgids)."""
    po = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang not in LANGUAGES or not po.is_file():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    if lang == "ko":  # keep-all lines would break after an in-word "/" or "-"
                      # (app/web/infra/typeset)
        for m in catalog:
            if m.id and m.string:
                m.string = (glue(m.string) if isinstance(m.string, str)
                            else tuple(glue(s) for s in m.string))
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """?lang= wins, then the cookie, then the best Accept-Language match, then English."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return choice
    best = negotiate_locale(preferred(accept_language), list(LANGUAGES), sep="-", aliases={})
    return best.lower() if best else DEFAULT


def preferred(accept_language: str | None) -> list[str]:
    """The header's language tags by falling q (stable: the first of equals first), without
    those at q=0 or with an unreadable q. Babel matches them (a tag or its primary subtag)."""
    tags: list[tuple[str, float]] = []
    for part in (accept_language or "").split(","):
        pieces = part.strip().split(";")
        q = 1.0
        for p in pieces[1:]:
            key, _, value = p.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            tags.append((pieces[0].strip(), q))
    return [tag for tag, _q in sorted(tags, key=lambda t: -t[1])]


def gettext_for(lang: str) -> Any:
    return translations(lang).gettext


def ngettext_for(lang: str) -> Any:
    return translations(lang).ngettext


@pass_context
def _gettext(ctx: Context, message: str) -> str:
    return translations(ctx.get("lang", DEFAULT)).gettext(message)


@pass_context
def _ngettext(ctx: Context, singular: str, plural: str, n: int) -> str:
    return translations(ctx.get("lang", DEFAULT)).ngettext(singular, plural, n)


def install(env: Any) -> None:
    """Jinja's i18n extension, reading the language from each render's ``lang`` variable."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
