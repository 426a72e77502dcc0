"""Which notification type a change becomes, and which trigger types a destination may ask for.

Only names in the SDK's ``WebhookTriggers`` enum may appear in ``trigger_types`` (nylas-v3.md §7.3):
``*.truncated`` is sent but never subscribed to. Threads have no created/updated/deleted triggers in
Nylas v3; a thread that gained a newer message becomes ``thread.replied``. Drafts are messages with
``"object": "draft"``, as Nylas sends them.
"""

from __future__ import annotations

from inboxsync.store.models import Change

# The triggers inboxsync can emit (a subset of the SDK enum).
TRIGGERS = frozenset(
    {
        "grant.created",
        "grant.updated",
        "grant.deleted",
        "grant.expired",
        "message.created",
        "message.updated",
        "message.deleted",
        "thread.replied",
        "folder.created",
        "folder.updated",
        "folder.deleted",
    }
)

# The rest of the SDK enum: accepted on a destination (an SDK user may list them), never sent.
ACCEPTED = TRIGGERS | frozenset(
    {
        "message.send_success",
        "message.send_failed",
        "message.bounce_detected",
        "message.opened",
        "message.link_clicked",
        "message.opened.legacy",
        "message.link_clicked.legacy",
        "thread.replied.legacy",
        "message.intelligence.order",
        "message.intelligence.tracking",
        "message.intelligence.return",
        "calendar.created",
        "calendar.updated",
        "calendar.deleted",
        "event.created",
        "event.updated",
        "event.deleted",
        "contact.updated",
        "contact.deleted",
        "booking.created",
        "booking.pending",
        "booking.rescheduled",
        "booking.cancelled",
        "booking.reminder",
    }
)

_REPLY_FIELDS = frozenset({"message_count", "latest_message_id"})


def change_type(object_type: str, event: str) -> str:
    """The name of a change on the stream: ``message.created``, ``thread.updated``, ``grant.expired``."""
    return f"{object_type}.{event}"


def trigger_of(change: Change) -> str | None:
    """The webhook trigger a change fires, or None when Nylas has no trigger for it."""
    kind = change.object_type
    if kind == "draft":
        kind = "message"
    if kind == "thread":
        fields = set(change.fields or ())
        if change.event == "updated" and fields >= _REPLY_FIELDS:
            return "thread.replied"
        return None
    name = f"{kind}.{change.event}"
    return name if name in TRIGGERS else None


def source_of(trigger: str, provider: str | None) -> str:
    """The CloudEvents ``source``: ``/nylas/system`` for grants, else the provider's realtime feed."""
    if trigger.startswith("grant."):
        return "/nylas/system"
    return f"/{provider or 'imap'}/emails/realtime"
