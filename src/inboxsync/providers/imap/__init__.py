"""IMAP: a sans-IO response parser (:mod:`.parser`) and an asyncio client (:mod:`.client`).

See docs/adr/0001-imap-client.md.
"""

from inboxsync.providers.imap.client import ImapClient, StoreResult
from inboxsync.providers.imap.connection import BodySink, Security, SinkFactory
from inboxsync.providers.imap.idle import IdleSession
from inboxsync.providers.imap.parser import NEED_DATA, ResponseParser
from inboxsync.providers.imap.select import SelectInfo
from inboxsync.providers.imap.uidset import UidSet

__all__ = [
    "NEED_DATA",
    "BodySink",
    "IdleSession",
    "ImapClient",
    "ResponseParser",
    "Security",
    "SelectInfo",
    "SinkFactory",
    "StoreResult",
    "UidSet",
]
