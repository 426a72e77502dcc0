"""MIME: raw RFC 822 bytes → ``ParsedMessage`` (pure, never raises) and ``OutgoingMessage`` → bytes."""

from inboxsync.mime.parse import parse
from inboxsync.mime.structure import extract_part
from inboxsync.mime.types import Address, AttachmentInfo, Header, ParsedMessage

__all__ = ["Address", "AttachmentInfo", "Header", "ParsedMessage", "extract_part", "parse"]
