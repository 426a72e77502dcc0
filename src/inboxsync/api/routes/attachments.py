"""Attachments: metadata and the decoded bytes, extracted from the raw message on demand."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from inboxsync.api.deps import RuntimeDep, SessionDep
from inboxsync.api.views import responses, schemas
from inboxsync.api.views.params import GrantDep, checked_id
from inboxsync.mime import extract_part
from inboxsync.store import queries
from inboxsync.views import serialize

router = APIRouter(tags=["attachments"], responses=schemas.errors_doc(400, 401, 404))

MessageId = Annotated[
    str, Query(min_length=1, max_length=255, description="The message holding the attachment")
]


def content_disposition(filename: str | None, inline: bool) -> str:
    kind = "inline" if inline else "attachment"
    if not filename:
        return kind
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/v3/grants/{grant_id}/attachments/{attachment_id}",
    summary="Find an attachment's metadata",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(
        schemas.AttachmentEnvelope, schemas.EXAMPLE_MESSAGE["attachments"][0]
    ),
)
async def find_attachment(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    attachment_id: str,
    message_id: MessageId,
) -> responses.JsonBytes:
    row, _ = await queries.attachment_row(
        session, grant.id, checked_id("attachment", attachment_id), message_id
    )
    return responses.one(request, serialize.attachment(row))


@router.get(
    "/v3/grants/{grant_id}/attachments/{attachment_id}/download",
    summary="Download an attachment's decoded bytes",
    response_class=Response,
    responses={
        200: {
            "description": "The decoded bytes, with the part's content type",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def download_attachment(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    attachment_id: str,
    message_id: MessageId,
) -> Response:
    row, sha256 = await queries.attachment_row(
        session, grant.id, checked_id("attachment", attachment_id), message_id
    )
    await session.close()  # release the connection while reading and decoding
    raw = await anyio.to_thread.run_sync(runtime.blobs.get, sha256)
    data, content_type = await anyio.to_thread.run_sync(extract_part, raw, row.part_id)
    headers = {"Content-Disposition": content_disposition(row.filename, bool(row.is_inline))}
    return Response(data, media_type=content_type or "application/octet-stream", headers=headers)
