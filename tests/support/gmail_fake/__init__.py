"""An in-process fake of Google's OAuth token endpoint and the Gmail API v1 (a test double).

``GmailFake().app`` is an ASGI app: hand it to ``httpx.ASGITransport`` for in-process tests, or serve it
on a loopback port with :func:`serve`. Its behaviour, with links to Google's reference pages, is
described in :mod:`.mailbox` (data and rules), :mod:`.routes` (methods) and :mod:`.app` (OAuth, quota,
batches, uploads, latency, faults).
"""

from tests.support.gmail_fake.app import CLIENT_ID, CLIENT_SECRET, GmailFake
from tests.support.gmail_fake.mailbox import ApiError, FakeMessage, Mailbox

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "ApiError", "FakeMessage", "GmailFake", "Mailbox"]
