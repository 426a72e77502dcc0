"""The address index: which messages an address is in, and in which fields (docs/adr/0013).

A list filtered by an address (``from=``, ``to=``, ``cc=``, ``bcc=``, ``any_email=``) is a CRM's
everyday question ("every message with this contact"). The text index answered it by the address's
words as a phrase and an exact check of each candidate, and the candidates had to be sorted: 130
pages/s on PostgreSQL at 100,000 messages against 950 for the plain list. ``message_addresses``
holds one row per (message, address), keyed ``(grant_id, address, received_at, message_id)``: one
address's messages, newest first, are one range of its primary key, read like the plain list.

Rows are written beside the message's search document (:mod:`inboxsync.store.fts`), in its
transaction, and deleted with the message by ``ON DELETE CASCADE``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, exists
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store import bulk
from inboxsync.store.models import Message, MessageAddress, table_of

#: The field bits of ``message_addresses.roles``.
ROLES = {"from": 1, "to": 2, "cc": 4, "bcc": 8}
ANY_ROLE = sum(ROLES.values())
#: Longer "addresses" are not indexed (RFC 5321 caps a path at 256 octets; an index entry of
#: PostgreSQL's B-tree must fit a third of a page).
MAX_LENGTH = 320


def normal(email: str) -> str:
    """An address as indexed and looked up: stripped, lower case."""
    return email.strip().lower()


def roles_of(
    from_: Iterable[Mapping[str, Any]],
    to: Iterable[Mapping[str, Any]],
    cc: Iterable[Mapping[str, Any]],
    bcc: Iterable[Mapping[str, Any]],
) -> tuple[tuple[str, int], ...]:
    """Each address of a message once, with the bits of the fields it is in."""
    found: dict[str, int] = {}
    for bit, people in zip(ROLES.values(), (from_, to, cc, bcc), strict=True):
        for person in people or ():
            email = person.get("email") if isinstance(person, Mapping) else None
            if not isinstance(email, str):
                continue
            address = normal(email)
            if address and len(address) <= MAX_LENGTH:
                found[address] = found.get(address, 0) | bit
    return tuple(found.items())


def rows_of(
    grant_id: str, message_id: str, received_at: int, roles: Sequence[tuple[str, int]]
) -> list[dict[str, Any]]:
    return [
        {
            "grant_id": grant_id,
            "address": address,
            "received_at": received_at,
            "message_id": message_id,
            "roles": bits,
        }
        for address, bits in roles
    ]


async def insert(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Add the rows of new messages (one executemany, in the caller's transaction)."""
    await bulk.insert(session, table_of(MessageAddress), rows)


def has_address(emails: Sequence[str], roles: int) -> ColumnElement[bool]:
    """The ``messages`` row has one of ``emails`` in one of the fields of ``roles`` (a probe of the
    message's few rows through ``ix_message_addresses_message``)."""
    other = table_of(MessageAddress).alias("other_addresses")  # the page may walk the table
    return exists().where(
        other.c.message_id == Message.id,
        other.c.address.in_([normal(e) for e in emails]),
        other.c.roles.op("&")(bindparam(None, roles, Integer)) != 0,
    )
