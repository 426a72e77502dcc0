"""Message and thread objects as Nylas JSON, from the database without decoding rows.

The hot read paths of the API (a page of messages, a find, a page of threads) are one statement each,
and the API splices the JSON they give into its envelope: that replaces per-row JSON decoding, dict
building and JSON encoding in Python, which cost more than the queries themselves. A thread's own
fields are rendered by the database (``json_object`` on SQLite, ``json_build_object`` on
PostgreSQL), its latest message as any message, joined in the same statement.

Most of a message never changes once stored: its headers, body and attachments. A synced message
keeps them pre-rendered in ``messages.json_head`` (:func:`head_of`, written with the row: the JSON
object of those fields without its closing brace), and a read only appends the fields that change
(thread, flags, folders, metadata): escaping the bodies into JSON was a third of a list page's
statement (docs/adr/0012). Where ``json_head`` is NULL (drafts and messages we sent, whose text
changes; rows from before migration 0008 until it filled them) the whole object is rendered live.

The shapes are those of :func:`inboxsync.views.serialize.message` and
:func:`inboxsync.views.serialize.thread`; ``tests/api/test_message_json.py`` checks that all agree.
The fragments name the tables ``messages`` and ``threads`` directly, so a statement selecting them
must read from those tables under their own names (no aliases).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Boolean, ColumnElement, LargeBinary, Text, literal_column

_SQLITE_BOOL = "json(CASE WHEN {0} THEN 'true' ELSE 'false' END)"

# SQLite 3.40 has no ORDER BY inside aggregates: the order comes from an ordered subquery.
_SQLITE_MESSAGE_LIVE = """json_object(
 'object', 'message', 'id', messages.id, 'grant_id', messages.grant_id,
 'thread_id', messages.thread_id, 'subject', messages.subject,
 'from', json(messages."from"), 'to', json(messages."to"), 'cc', json(messages.cc),
 'bcc', json(messages.bcc), 'reply_to', json(messages.reply_to),
 'date', messages.date, 'created_at', messages.date,
 'unread', {unread}, 'starred', {starred},
 'snippet', messages.snippet, 'body', messages.body,
 'folders', json((SELECT json_group_array(f.folder_id) FROM (SELECT DISTINCT folder_id
   FROM message_folders WHERE message_folders.message_id = messages.id ORDER BY folder_id) AS f)),
 'attachments', json((SELECT json_group_array(json_object(
   'id', a.id, 'grant_id', a.grant_id, 'message_id', a.message_id, 'filename', a.filename,
   'content_type', a.content_type, 'size', a.size, 'content_id', a.content_id,
   'content_disposition', a.content_disposition, 'is_inline', {inline}))
   FROM (SELECT * FROM attachments WHERE attachments.message_id = messages.id
   ORDER BY part_id) AS a)),
 'metadata', json(CASE WHEN messages.metadata IS NULL OR messages.metadata = 'null'
   THEN '{{}}' ELSE messages.metadata END))""".format(
    unread=_SQLITE_BOOL.format("messages.unread"),
    starred=_SQLITE_BOOL.format("messages.starred"),
    inline=_SQLITE_BOOL.format("a.is_inline"),
)

_PG_MESSAGE_LIVE = """json_build_object(
 'object', 'message', 'id', messages.id, 'grant_id', messages.grant_id,
 'thread_id', messages.thread_id, 'subject', messages.subject,
 'from', messages."from", 'to', messages."to", 'cc', messages.cc,
 'bcc', messages.bcc, 'reply_to', messages.reply_to,
 'date', messages.date, 'created_at', messages.date,
 'unread', messages.unread, 'starred', messages.starred,
 'snippet', messages.snippet, 'body', messages.body,
 'folders', (SELECT coalesce(json_agg(f.folder_id ORDER BY f.folder_id), '[]'::json)
   FROM (SELECT DISTINCT folder_id FROM message_folders
   WHERE message_folders.message_id = messages.id) AS f),
 'attachments', (SELECT coalesce(json_agg(json_build_object(
   'id', a.id, 'grant_id', a.grant_id, 'message_id', a.message_id, 'filename', a.filename,
   'content_type', a.content_type, 'size', a.size, 'content_id', a.content_id,
   'content_disposition', a.content_disposition, 'is_inline', a.is_inline)
   ORDER BY a.part_id), '[]'::json) FROM attachments AS a WHERE a.message_id = messages.id),
 'metadata', CASE WHEN messages.metadata IS NULL OR messages.metadata::text = 'null'
   THEN '{}'::json ELSE messages.metadata END)"""

# A thread: its row, its members (non-draft and draft message ids in time order, the folders of
# any member) and its latest message, rendered with the message fragment above. The unary ``+`` in
# ORDER BY keeps SQLite from walking ix_messages_grant_received (every message of the grant, in
# order) instead of looking the thread up in ix_messages_grant_thread and sorting its few rows.
_SQLITE_THREAD = """json_object(
 'object', 'thread', 'id', threads.id, 'grant_id', threads.grant_id,
 'subject', threads.subject, 'snippet', threads.snippet,
 'participants', json(threads.participants),
 'message_ids', json((SELECT json_group_array(i.id) FROM (SELECT messages.id FROM messages
   WHERE messages.grant_id = threads.grant_id AND messages.thread_id = threads.id
   AND NOT messages.is_draft ORDER BY +messages.received_at, +messages.id) AS i)),
 'draft_ids', json((SELECT json_group_array(i.id) FROM (SELECT messages.id FROM messages
   WHERE messages.grant_id = threads.grant_id AND messages.thread_id = threads.id
   AND messages.is_draft ORDER BY +messages.received_at, +messages.id) AS i)),
 'folders', json((SELECT json_group_array(f.folder_id) FROM (SELECT DISTINCT
   message_folders.folder_id FROM messages JOIN message_folders
   ON message_folders.message_id = messages.id WHERE messages.grant_id = threads.grant_id
   AND messages.thread_id = threads.id ORDER BY message_folders.folder_id) AS f)),
 'unread', {unread}, 'starred', {starred}, 'has_attachments', {files}, 'has_drafts', {drafts},
 'earliest_message_date', threads.earliest_message_date,
 'latest_message_received_date', threads.latest_message_received_date,
 'latest_message_sent_date', threads.latest_message_sent_date)
""".format(
    unread=_SQLITE_BOOL.format("threads.unread"),
    starred=_SQLITE_BOOL.format("threads.starred"),
    files=_SQLITE_BOOL.format("threads.has_attachments"),
    drafts=_SQLITE_BOOL.format("threads.has_drafts"),
)

# The thread's members in one pass over its messages (ids, drafts' ids, their folders from
# messages.folder_ids): three sub-queries, one with a join to message_folders, cost a page of threads
# 1.67 ms of its statement's 3 ms (now 1.25 ms: docs/adr/0014).
_PG_THREAD = """(SELECT json_build_object(
 'object', 'thread', 'id', threads.id, 'grant_id', threads.grant_id,
 'subject', threads.subject, 'snippet', threads.snippet, 'participants', threads.participants,
 'message_ids', coalesce(members.message_ids, '[]'::json),
 'draft_ids', coalesce(members.draft_ids, '[]'::json),
 'folders', coalesce((SELECT json_agg(DISTINCT f ORDER BY f)
   FROM unnest(string_to_array(members.folder_ids, ' ')) AS f), '[]'::json),
 'unread', threads.unread, 'starred', threads.starred,
 'has_attachments', threads.has_attachments, 'has_drafts', threads.has_drafts,
 'earliest_message_date', threads.earliest_message_date,
 'latest_message_received_date', threads.latest_message_received_date,
 'latest_message_sent_date', threads.latest_message_sent_date)::text
 FROM (SELECT
   json_agg(m.id ORDER BY m.received_at, m.id) FILTER (WHERE NOT m.is_draft) AS message_ids,
   json_agg(m.id ORDER BY m.received_at, m.id) FILTER (WHERE m.is_draft) AS draft_ids,
   string_agg(m.folder_ids, ' ') AS folder_ids
   FROM messages AS m WHERE m.grant_id = threads.grant_id AND m.thread_id = threads.id) AS members)"""


@cache  # built once: rebuilding them was ~3 % of a page's CPU in the API process
def message_parts(sqlite: bool, *, head: bool = True) -> tuple[ColumnElement[Any], ...]:
    """The columns from which :func:`assemble` builds the JSON of the ``messages`` row of each
    result row: its head (UTF-8 bytes: no decoding to ``str`` and encoding back), the fields that
    change, and the whole object rendered live only where there is no head. ``head`` False:
    instead of the head, whether there is one, and no live rendering (the caller has the head, or
    reads it or the rendering by id with :func:`head_or_live`: see
    :func:`inboxsync.store.queries.message_page_json`; a live rendering's sub-plans cost a page's
    statement ~15 % on PostgreSQL even where no row needs them)."""
    if sqlite:
        metadata = "messages.metadata"
        folders = (
            "(SELECT group_concat(folder_id, ' ') FROM message_folders "
            "WHERE message_folders.message_id = messages.id)"
        )
        live = _SQLITE_MESSAGE_LIVE
    else:
        metadata = "messages.metadata::text"
        # Kept on the row by triggers (migration 0010): a look-up a row was a third of a page.
        folders = "messages.folder_ids"
        live = f"({_PG_MESSAGE_LIVE})::text"
    return (
        literal_column("messages.json_head", LargeBinary)
        if head
        else literal_column("messages.json_head IS NOT NULL", Boolean),
        literal_column("messages.thread_id", Text),
        literal_column("messages.unread", Boolean),
        literal_column("messages.starred", Boolean),
        literal_column(metadata, Text),
        literal_column(folders, Text),
        literal_column(f"CASE WHEN messages.json_head IS NULL THEN {live} END", Text)
        if head
        else literal_column("NULL", Text),
    )


def head_or_live(sqlite: bool) -> tuple[ColumnElement[Any], ...]:
    """A ``messages`` row's head and, where it has none, its live rendering (the two columns
    ``message_parts(head=False)`` leaves out)."""
    parts = message_parts(sqlite)
    return parts[0], parts[-1]


_TRUE, _FALSE = b"true", b"false"


def assemble(parts: Sequence[Any]) -> bytes:
    """A message's JSON from the values of :func:`message_parts` (in that order)."""
    head, thread_id, unread, starred, metadata, folders, live = parts
    if head is None:
        return str(live).encode()
    return b"".join(
        (
            head,
            b',"thread_id":',
            orjson.dumps(thread_id),
            b',"unread":',
            _TRUE if unread else _FALSE,
            b',"starred":',
            _TRUE if starred else _FALSE,
            b',"folders":',
            # One message under two UIDs of a folder has two rows: each folder once, in order.
            orjson.dumps(sorted(set(folders.split(" "))) if folders else []),
            b',"metadata":',
            b"{}" if metadata is None or metadata == "null" else metadata.encode(),
            b"}",
        )
    )


@cache
def thread_json(sqlite: bool) -> ColumnElement[Any]:
    """The column from which :func:`assemble_thread` builds the JSON of the ``threads`` row of
    each result row, without its latest message: that one comes from :func:`message_parts` of the
    ``messages`` row outer-joined as its latest (``messages.id = threads.latest_message_id``)."""
    return literal_column(_SQLITE_THREAD if sqlite else _PG_THREAD, Text)


def assemble_thread(thread: str, latest: Sequence[Any]) -> bytes:
    """A thread's JSON from the value of :func:`thread_json` and those of :func:`message_parts`
    of its latest message (all None: it has none)."""
    message = b"null" if latest[0] is None and latest[-1] is None else assemble(latest)
    return b"".join((thread.encode()[:-1], b',"latest_draft_or_message":', message, b"}"))


def _attachment(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "grant_id": row["grant_id"],
        "message_id": row["message_id"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "size": row["size"],
        "content_id": row["content_id"],
        "content_disposition": row["content_disposition"],
        "is_inline": row["is_inline"],
    }


def head_of(row: Mapping[str, Any], attachments: Sequence[Mapping[str, Any]]) -> bytes | None:
    """The ``json_head`` of a new ``messages`` row (column names as keys) and its ``attachments``
    rows: the JSON object of the fields that never change, without its closing brace. None when
    a text cannot be encoded (the row is then rendered live)."""
    obj = {
        "object": "message",
        "id": row["id"],
        "grant_id": row["grant_id"],
        "subject": row["subject"],
        "from": row["from"],
        "to": row["to"],
        "cc": row["cc"],
        "bcc": row["bcc"],
        "reply_to": row["reply_to"],
        "date": row["date"],
        "created_at": row["date"],
        "snippet": row["snippet"],
        "body": row["body"],
        # In the order of the live rendering: part ids compared as the database's C collation.
        "attachments": [_attachment(a) for a in sorted(attachments, key=lambda a: a["part_id"])],
    }
    try:
        text = orjson.dumps(obj)
    except orjson.JSONEncodeError:  # a lone surrogate, an integer beyond 64 bits
        return None
    return text[:-1]
