"""Folder roles: from SPECIAL-USE attributes (RFC 6154), else from well-known names in several languages."""

from __future__ import annotations

from collections.abc import Iterable

SPECIAL_USE = {
    "\\inbox": "inbox",
    "\\sent": "sent",
    "\\drafts": "drafts",
    "\\trash": "trash",
    "\\junk": "spam",
    "\\archive": "archive",
    "\\all": "all",
    "\\flagged": "starred",
    "\\important": "important",
}

# Lower-cased last path component -> role. Gmail's "[Gmail]/…" names and common localisations.
NAMES = {
    "inbox": "inbox",
    "sent": "sent",
    "sent items": "sent",
    "sent mail": "sent",
    "sent messages": "sent",
    "gesendet": "sent",
    "gesendete objekte": "sent",
    "gesendete elemente": "sent",
    "envoyés": "sent",
    "éléments envoyés": "sent",
    "messages envoyés": "sent",
    "enviados": "sent",
    "elementos enviados": "sent",
    "posta inviata": "sent",
    "inviata": "sent",
    "verzonden": "sent",
    "verzonden items": "sent",
    "skickat": "sent",
    "отправленные": "sent",
    "drafts": "drafts",
    "draft": "drafts",
    "entwürfe": "drafts",
    "brouillons": "drafts",
    "borradores": "drafts",
    "bozze": "drafts",
    "concepten": "drafts",
    "черновики": "drafts",
    "trash": "trash",
    "deleted items": "trash",
    "deleted messages": "trash",
    "deleted": "trash",
    "bin": "trash",
    "papierkorb": "trash",
    "gelöschte objekte": "trash",
    "gelöschte elemente": "trash",
    "corbeille": "trash",
    "éléments supprimés": "trash",
    "papelera": "trash",
    "elementos eliminados": "trash",
    "cestino": "trash",
    "prullenbak": "trash",
    "verwijderde items": "trash",
    "корзина": "trash",
    "junk": "spam",
    "junk e-mail": "spam",
    "junk email": "spam",
    "junk mail": "spam",
    "spam": "spam",
    "bulk mail": "spam",
    "courrier indésirable": "spam",
    "indésirables": "spam",
    "correo no deseado": "spam",
    "posta indesiderata": "spam",
    "ongewenste e-mail": "spam",
    "спам": "spam",
    "archive": "archive",
    "archives": "archive",
    "archiv": "archive",
    "archivo": "archive",
    "archivio": "archive",
    "archief": "archive",
    "архив": "archive",
    "all mail": "all",
    "alle nachrichten": "all",
    "tous les messages": "all",
    "todos": "all",
    "starred": "starred",
    "important": "important",
}

# When two folders claim one role, the one with the attribute wins, then the shorter path.
UNIQUE_ROLES = {"inbox", "sent", "drafts", "trash", "spam", "archive", "all"}


def role_for(path: str, delimiter: str | None, attributes: Iterable[str]) -> str | None:
    """The role of one folder, or None."""
    for attribute in attributes:
        role = SPECIAL_USE.get(attribute.lower())
        if role:
            return role
    if path.upper() == "INBOX":
        return "inbox"
    last = path.rsplit(delimiter, 1)[-1] if delimiter else path
    return NAMES.get(last.strip().lower())


def assign_roles(
    folders: Iterable[tuple[str, str | None, Iterable[str]]],
) -> dict[str, str | None]:
    """path -> role for a whole account: each unique role goes to one folder only."""
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    result: dict[str, str | None] = {}
    for path, delimiter, attributes in folders:
        attrs = list(attributes)
        role = role_for(path, delimiter, attrs)
        result[path] = role
        if role in UNIQUE_ROLES:
            by_attribute = 0 if any(a.lower() in SPECIAL_USE for a in attrs) else 1
            candidates.setdefault(role, []).append((by_attribute, len(path), path))
    for role, claims in candidates.items():
        if len(claims) > 1:
            winner = min(claims)[2]
            for _, _, path in claims:
                if path != winner and result[path] == role:
                    result[path] = None
    return result
