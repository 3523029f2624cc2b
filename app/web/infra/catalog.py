"""Keep the Babel catalogues in step with the code: ``python -m app.web.infra.catalog`` extracts
every message from the templates and app/web (plus the preset descriptions), writes the English
catalogue and merges the Korean one, and lists Korean messages still untranslated."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from app.sessions.config import PRESETS
from app.web.infra.i18n import LANGUAGES, LOCALES_DIR

ROOT = Path(__file__).resolve().parent.parent.parent.parent
METHODS = [("**.html", "jinja2")]
OPTIONS = {"**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                       "lstrip_blocks": "true"}}


Msgid = str | tuple[str, str]  # a plural message is (singular, plural)


def _key(msg: object) -> Msgid | None:
    if isinstance(msg, str):
        return msg
    if isinstance(msg, tuple) and len(msg) >= 2 and all(isinstance(m, str) for m in msg[:2]):
        return (msg[0], msg[1])
    return None


def extract() -> dict[Msgid, list[tuple[str, int]]]:
    """msgid -> locations, from the templates, app/web/*.py and the preset descriptions."""
    found: dict[Msgid, list[tuple[str, int]]] = {}
    for fn, line, msg, _comments, _ctx in extract_from_dir(
            ROOT / "templates", METHODS, options_map=OPTIONS):
        if (key := _key(msg)) is not None:
            found.setdefault(key, []).append((f"templates/{fn}", line))
    for fn, line, msg, _comments, _ctx in extract_from_dir(
            ROOT / "app" / "web", [("**.py", "python")]):
        if (key := _key(msg)) is not None:
            found.setdefault(key, []).append((f"app/web/{fn}", line))
    for name, p in PRESETS.items():
        found.setdefault(p["description"], []).append((f"preset:{name}", 0))
    return found


def po_path(lang: str) -> Path:
    return LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"


def main() -> int:
    messages = extract()
    missing: list[Msgid] = []
    for lang in LANGUAGES:
        path = po_path(lang)
        old: Catalog | None = None
        if path.is_file():
            with path.open("rb") as f:
                old = read_po(f, locale=lang)
        cat = Catalog(locale=lang, project="Backprop Lab", fuzzy=False)
        for msgid, locations in sorted(messages.items(), key=lambda kv: str(kv[0])):
            lookup = msgid[0] if isinstance(msgid, tuple) else msgid
            prev = old.get(lookup) if old is not None else None
            string: str | tuple[str, ...] = ""
            if prev is not None and lang != "en" and prev.string:
                string = prev.string if isinstance(prev.string, str) else tuple(prev.string)
            if isinstance(msgid, tuple) and not isinstance(string, tuple):
                # Korean has one plural form (Plural-Forms: nplurals=1).
                string = (string,) if lang != "en" else ("", "")
            cat.add(msgid, string, locations=locations)
            if lang != "en" and not (string[0] if isinstance(string, tuple) else string):
                missing.append(msgid)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, cat, width=100, sort_output=True)
    for m in missing:
        print("untranslated (ko):", m)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
