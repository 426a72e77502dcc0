"""Notification bodies in Nylas v3's shape, and their ``X-Nylas-Signature``.

``{"specversion": "1.0", "type": "message.created", "source": ..., "id": <delivery id>, "time": ...,
"webhook_delivery_attempt": n, "data": {"application_id", "grant_id", "object": {...}}}``. The object
is encoded once when the change is fanned out; each attempt only re-encodes the small envelope around
it. The signature is the hex HMAC-SHA256 of the exact body bytes with the destination's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

MAX_OBJECT_BYTES = 1_000_000  # nylas-v3.md §5: over 1 MB the type gets ``.truncated``, no body
TRUNCATABLE = frozenset({"message.created", "message.updated"})
SIGNATURE_HEADER = "X-Nylas-Signature"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_object(trigger: str, obj: dict[str, Any]) -> tuple[str, str]:
    """(type, encoded object): messages over 1 MB lose their ``body`` and become ``*.truncated``."""
    text = dumps(obj)
    if trigger in TRUNCATABLE and len(text.encode()) > MAX_OBJECT_BYTES:
        slim = {k: v for k, v in obj.items() if k != "body"}
        return f"{trigger}.truncated", dumps(slim)
    return trigger, text


def body(
    *,
    type_: str,
    source: str,
    delivery_id: str,
    time: int,
    attempt: int,
    application_id: str,
    grant_id: str,
    object_json: str,
) -> bytes:
    head = dumps(
        {
            "specversion": "1.0",
            "type": type_,
            "source": source,
            "id": delivery_id,
            "time": time,
            "webhook_delivery_attempt": attempt,
        }
    )
    data = dumps({"application_id": application_id, "grant_id": grant_id})
    return f'{head[:-1]},"data":{data[:-1]},"object":{object_json}}}}}'.encode()


def sign(secret: str, raw: bytes) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def verify(secret: str, raw: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, raw), signature.strip().lower())


def new_secret() -> str:
    """64 hex characters, like Nylas's."""
    return secrets.token_hex(32)


def new_delivery_id() -> str:
    return secrets.token_hex(16)
