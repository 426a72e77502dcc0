"""Query parameters of the hot read routes, read by hand and documented from the same table.

FastAPI solves each declared query parameter (and each dependency) on every request: for a message
list's twenty parameters that was ~1 ms of a 2.7 ms request, more than the database's page read
(docs/adr/0011). The list and find routes of messages, threads and drafts therefore declare only
their path parameters; their query parameters are objects of this module, each reading its own
value from the query string (a 400 with a message when it cannot) and describing itself for
``/openapi.json`` (``openapi_extra=document(...)``), so the docs and the parsing cannot drift apart.

Values arrive as the SDK sends them: booleans as ``True``/``False``, lists as repeated keys or
comma-joined.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from inboxsync.errors import InvalidRequest

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
MAX_EMAILS = 25


def parse_bool(name: str, value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidRequest(f"{name} must be true or false, not {value[:40]!r}")


def parse_emails(name: str, values: Sequence[str] | None) -> tuple[str, ...]:
    """Repeated keys and comma-joined values, as one union (order kept, duplicates dropped)."""
    if not values:
        return ()
    found = [e.strip() for v in values for e in v.split(",") if e.strip()]
    if len(found) > MAX_EMAILS:
        raise InvalidRequest(f"{name} takes at most {MAX_EMAILS} addresses")
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class _Param(ABC):
    name: str
    description: str = ""

    @abstractmethod
    def schema(self) -> dict[str, Any]:
        """The parameter's JSON schema in ``/openapi.json``."""

    def example(self) -> Any:
        return None

    def openapi(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "in": "query", "required": False}
        if self.description:
            doc["description"] = self.description
        doc["schema"] = self.schema()
        if self.example() is not None:
            doc["example"] = self.example()
        return doc


@dataclass(frozen=True)
class Text(_Param):
    """A string of at most ``max_length`` characters; empty means absent."""

    max_length: int = 1000

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_length}

    def read(self, query: QueryParams) -> str | None:
        value = query.get(self.name)
        if not value:
            return None
        if len(value) > self.max_length:
            raise InvalidRequest(f"{self.name} is longer than {self.max_length} characters")
        return value


@dataclass(frozen=True)
class Integer(_Param):
    """A whole number between ``minimum`` and ``maximum``."""

    minimum: int = 0
    maximum: int = 2**53

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}

    def read(self, query: QueryParams) -> int | None:
        value = query.get(self.name)
        if value is None or value == "":
            return None
        text = value.strip()
        if not (text.isascii() and text.lstrip("+-").isdigit()) or len(text) > 20:
            raise InvalidRequest(f"{self.name} must be a whole number, not {value[:40]!r}")
        number = int(text)
        if not self.minimum <= number <= self.maximum:
            raise InvalidRequest(
                f"{self.name} must be between {self.minimum} and {self.maximum}, not {number}"
            )
        return number


@dataclass(frozen=True)
class Flag(_Param):
    """true or false, in any case (the SDK sends ``True``/``False``)."""

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": ["true", "false", "True", "False"]}

    def example(self) -> Any:
        return "True"

    def read(self, query: QueryParams) -> bool | None:
        return parse_bool(self.name, query.get(self.name))


@dataclass(frozen=True)
class Emails(_Param):
    """Addresses: the key repeated or one comma-joined value (at most 25)."""

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "maxLength": 320}}

    def read(self, query: QueryParams) -> tuple[str, ...]:
        return parse_emails(self.name, query.getlist(self.name))


@dataclass(frozen=True)
class Choice(_Param):
    """One of ``choices`` (lower case accepted in any case); absent is None."""

    choices: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}

    def read(self, query: QueryParams) -> str | None:
        value = query.get(self.name)
        if not value:
            return None
        lowered = value.strip().lower()
        if lowered not in self.choices:
            raise InvalidRequest(f"{self.name} must be one of {', '.join(self.choices)}")
        return lowered


def document(*params: _Param) -> dict[str, Any]:
    """``openapi_extra`` for a route reading these parameters by hand."""
    return {"parameters": [p.openapi() for p in params]}


# The parameters shared by the list routes.
LIMIT = Integer("limit", "Page size, 1 to 200 (default 50)", minimum=1, maximum=200)
PAGE_TOKEN = Text("page_token", "The previous page's next_cursor", max_length=512)
SELECT = Text("select", "Comma-separated fields to return")
SEARCH = Text("search_query_native", "A search in Gmail's syntax (from:, has:attachment, …)")
SUBJECT = Text("subject", "Messages whose subject contains this")
ANY_EMAIL = Emails("any_email", "Any participant is one of these addresses")
FROM = Emails("from", "The sender is one of these addresses")
TO = Emails("to", "A recipient is one of these addresses")
CC = Emails("cc", "A Cc recipient is one of these addresses")
BCC = Emails("bcc", "A Bcc recipient is one of these addresses")
IN = Text("in", "Folder id, role (inbox) or name")
UNREAD = Flag("unread")
STARRED = Flag("starred")
THREAD_ID = Text("thread_id", max_length=255)
HAS_ATTACHMENT = Flag("has_attachment")
RECEIVED_BEFORE = Integer("received_before", "Unix seconds")
RECEIVED_AFTER = Integer("received_after", "Unix seconds")

#: The filters that message, draft and thread lists share (each adds its own date filters).
LIST_FILTERS = (
    SUBJECT,
    ANY_EMAIL,
    FROM,
    TO,
    CC,
    BCC,
    IN,
    UNREAD,
    STARRED,
    THREAD_ID,
    HAS_ATTACHMENT,
)
