"""Folders: ``/v3/grants/{grant_id}/folders`` list, create, find, update (PUT), delete.

Changes apply locally at once and enqueue ``create_folder``/``rename_folder``/``delete_folder`` for
the write-back worker. Counts are computed live from the placements.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from inboxsync.api.deps import SessionDep
from inboxsync.api.views import responses, schemas
from inboxsync.api.views.params import GrantDep, body_doc, parse_select, read_json
from inboxsync.api.views.query import parse_bool
from inboxsync.errors import InvalidRequest
from inboxsync.store import actions, folders, listing, queries
from inboxsync.views import serialize

router = APIRouter(tags=["folders"], responses=schemas.errors_doc(400, 401, 404))

FolderId = Annotated[str, "path"]
MAX_FOLDERS = 1000


def _token(page_token: str | None) -> int:
    if not page_token:
        return 0
    if not (page_token.isascii() and page_token.isdigit()) or len(page_token) > 9:
        raise InvalidRequest("page_token is not a token of this list")
    return int(page_token)


@router.get(
    "/v3/grants/{grant_id}/folders",
    summary="List folders",
    response_class=responses.JsonBytes,
    responses=schemas.many_doc(schemas.FolderList, schemas.EXAMPLE_FOLDER),
)
async def list_folders(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    parent_id: Annotated[str | None, Query(max_length=64)] = None,
    include_hidden_folders: Annotated[str | None, Query(examples=["True"])] = None,
    single_level: Annotated[str | None, Query(examples=["True"])] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_FOLDERS, description="Default: every folder")
    ] = None,
    page_token: Annotated[str | None, Query(max_length=16)] = None,
    select: Annotated[str | None, Query(max_length=1000)] = None,
) -> responses.JsonBytes:
    parse_bool("include_hidden_folders", include_hidden_folders)
    single = parse_bool("single_level", single_level)
    start = _token(page_token)
    size = limit or MAX_FOLDERS
    rows = await listing.folder_list(session, grant.id, parent_id=parent_id)
    if single and parent_id is None:
        rows = [f for f in rows if f.parent_id is None]
    counts = await listing.folder_counts(session, grant.id)
    page = rows[start : start + size]
    fields = parse_select(select)
    data = [
        serialize.pick(serialize.folder(f, counts.get(f.id)), fields, serialize.FOLDER_REQUIRED)
        for f in page
    ]
    more = start + size < len(rows)
    return responses.many(request, data, str(start + size) if more else None)


@router.post(
    "/v3/grants/{grant_id}/folders",
    summary="Create a folder",
    response_class=responses.JsonBytes,
    responses={
        **schemas.one_doc(schemas.FolderEnvelope, schemas.EXAMPLE_FOLDER),
        **schemas.errors_doc(409, 413, 415),
    },
    openapi_extra=body_doc(schemas.FolderCreate, {"name": "Receipts"}),
)
async def create_folder(
    request: Request, grant: GrantDep, session: SessionDep
) -> responses.JsonBytes:
    body = await read_json(request, schemas.FolderCreate)
    await session.commit()
    folder = await actions.create_folder(
        session,
        grant.id,
        name=body.name,
        parent_id=body.parent_id,
        background_color=body.background_color,
        text_color=body.text_color,
    )
    await session.commit()
    queries.forget_folder_names(request.app.state.runtime.db, grant.id)
    counts = await listing.folder_counts(session, grant.id)
    return responses.one(request, serialize.folder(folder, counts.get(folder.id)))


@router.get(
    "/v3/grants/{grant_id}/folders/{folder_id}",
    summary="Find a folder",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(schemas.FolderEnvelope, schemas.EXAMPLE_FOLDER),
)
async def find_folder(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    folder_id: str,
    select: Annotated[str | None, Query(max_length=1000)] = None,
) -> responses.JsonBytes:
    folder = await folders.get(session, grant.id, folder_id)
    counts = await listing.folder_counts(session, grant.id)
    data = serialize.folder(folder, counts.get(folder.id))
    return responses.one(
        request, serialize.pick(data, parse_select(select), serialize.FOLDER_REQUIRED)
    )


@router.put(
    "/v3/grants/{grant_id}/folders/{folder_id}",
    summary="Rename, move or recolour a folder",
    response_class=responses.JsonBytes,
    responses={
        **schemas.one_doc(schemas.FolderEnvelope, schemas.EXAMPLE_FOLDER),
        **schemas.errors_doc(409, 413, 415),
    },
    openapi_extra=body_doc(schemas.FolderUpdate, {"name": "Receipts 2024"}),
)
async def update_folder(
    request: Request, grant: GrantDep, session: SessionDep, folder_id: str
) -> responses.JsonBytes:
    body = await read_json(request, schemas.FolderUpdate)
    await session.commit()
    folder = await folders.get(session, grant.id, folder_id)
    await actions.update_folder(session, folder, body.model_dump(exclude_unset=True))
    await session.commit()
    queries.forget_folder_names(request.app.state.runtime.db, grant.id)
    counts = await listing.folder_counts(session, grant.id)
    return responses.one(request, serialize.folder(folder, counts.get(folder.id)))


@router.delete(
    "/v3/grants/{grant_id}/folders/{folder_id}",
    summary="Delete a folder (messages only there are deleted too)",
    response_class=responses.JsonBytes,
    responses=schemas.DELETED_DOC,
)
async def delete_folder(
    request: Request, grant: GrantDep, session: SessionDep, folder_id: str
) -> responses.JsonBytes:
    await session.commit()
    folder = await folders.get(session, grant.id, folder_id)
    await actions.delete_folder(session, folder, self_email=grant.email)
    await session.commit()
    queries.forget_folder_names(request.app.state.runtime.db, grant.id)
    return responses.deleted(request)
