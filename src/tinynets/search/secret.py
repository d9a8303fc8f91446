"""The password of a storage URL, found and hidden: `redact` replaces it by *** in the URL itself or in
any message that may quote it (tinynets.search.storage's lines, tinynets.search.outage's). Light: no
SQLAlchemy until a URL is parsed."""

from __future__ import annotations

from typing import Any

JOURNAL = "journal:"


def password_of(url: str) -> str | None:
    """The URL's password, or None (a journal file, no password, not a URL)."""
    if url.startswith(JOURNAL) or "://" not in url:
        return None
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: nothing to hide
        return None


def redact(text: Any, url: str | None = None) -> str:
    """`text` with the storage URL's password replaced by ***: a URL itself, or any message that may
    quote it (`url` names the URL whose password to hide)."""
    text = "" if text is None else str(text)
    password = password_of(url if url is not None else text)
    if password:
        from urllib.parse import quote_plus

        for form in {password, quote_plus(password)}:
            text = text.replace(form, "***")
    return text
