from __future__ import annotations

import pytest

from inboxsync.sync.imap.roles import assign_roles, role_for


@pytest.mark.parametrize(
    ("path", "attributes", "role"),
    [
        ("INBOX", [], "inbox"),
        ("inbox", [], "inbox"),
        ("Sent", ["\\Sent"], "sent"),
        ("Whatever", ["\\HasNoChildren", "\\Junk"], "spam"),
        ("[Gmail]/All Mail", ["\\All"], "all"),
        ("[Gmail]/Sent Mail", [], "sent"),
        ("INBOX/Gesendete Objekte", [], "sent"),
        ("Deleted Items", [], "trash"),
        ("Papierkorb", [], "trash"),
        ("Éléments envoyés", [], "sent"),
        ("Junk E-mail", [], "spam"),
        ("Archive", [], "archive"),
        ("Projects/2024", [], None),
    ],
)
def test_role_for(path: str, attributes: list[str], role: str | None) -> None:
    assert role_for(path, "/", attributes) == role


def test_unique_roles_prefer_attribute_then_shorter_path() -> None:
    roles = assign_roles(
        [
            ("Sent", "/", []),
            ("Sent Items", "/", ["\\Sent"]),
            ("Trash", ".", []),
            ("INBOX.Trash", ".", []),
            ("INBOX", ".", []),
        ]
    )
    assert roles == {
        "Sent": None,
        "Sent Items": "sent",
        "Trash": "trash",
        "INBOX.Trash": None,
        "INBOX": "inbox",
    }
