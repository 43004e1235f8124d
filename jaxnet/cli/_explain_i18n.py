"""The learner's language for ``jaxnet explain``: the steps' names and explanations
through a standard gettext catalog, the book's symbols unchanged.

A catalog is ``jaxnet/locale/<lang>/LC_MESSAGES/jaxnet.mo`` compiled from the
``jaxnet.po`` beside it (tests/test_explain_i18n.py checks that the two agree);
adding a language is adding a catalog. English is the messages themselves.
"""

from __future__ import annotations

import gettext
from pathlib import Path

#: Where the catalogs are: ``<LOCALE>/<lang>/LC_MESSAGES/jaxnet.mo``.
LOCALE = Path(__file__).resolve().parents[1] / "locale"
DOMAIN = "jaxnet"


def languages() -> list:
    """The languages explain speaks: ``"en"`` and every compiled catalog's."""
    return ["en"] + sorted(p.parents[1].name for p in
                           LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))


def translator(lang: str | None = None) -> gettext.NullTranslations:
    """The translations for ``lang`` (``"hi"``; ``"en"``: none), or for the locale
    (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, as gettext reads them;
    English where no catalog matches) when ``lang`` is None.

    Raises:
      ValueError: a ``lang`` with no catalog (naming the languages there are).
    """
    if lang is None:
        return gettext.translation(DOMAIN, LOCALE, fallback=True)
    if lang == "en":
        return gettext.NullTranslations()
    try:
        return gettext.translation(DOMAIN, LOCALE, languages=[lang])
    except OSError:
        raise ValueError(f"no catalog for language {lang!r}; there are "
                         f"{', '.join(languages())}") from None
