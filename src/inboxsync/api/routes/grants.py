"""Grants: ``/v3/grants`` list (offset paging, as Nylas) and ``/v3/grants/{grant_id}`` find, PATCH, DELETE.

Deleting a grant stops its sync (its row and lease go), removes its data in one transaction and then
the blobs that no other grant's messages name.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from inboxsync.api.deps import PrincipalDep, RuntimeDep, SessionDep
from inboxsync.api.views import responses, schemas
from inboxsync.api.views.params import GrantDep, body_doc, read_json
from inboxsync.errors import InvalidRequest
from inboxsync.store import changes, grants, listing
from inboxsync.views import serialize

log = logging.getLogger(__name__)
router = APIRouter(tags=["grants"], responses=schemas.errors_doc(400, 401, 404))


@router.get(
    "/v3/grants",
    summary="List the grants this key may see",
    response_class=responses.JsonBytes,
    responses=schemas.many_doc(schemas.GrantList, schemas.EXAMPLE_GRANT),
)
async def list_grants(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 10,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    sort_by: Literal["created_at", "updated_at"] = "created_at",
    order_by: Literal["asc", "desc"] = "asc",
    since: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    before: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    grant_status: Annotated[str | None, Query(max_length=16)] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
    provider: Annotated[str | None, Query(max_length=32)] = None,
) -> responses.JsonBytes:
    rows = await listing.grant_list(
        session,
        api_key_id=principal.api_key_id,
        limit=limit,
        offset=offset,
        sort_by=sort_by,
        descending=order_by == "desc",
        since=since,
        before=before,
        email=email,
        grant_status=grant_status,
        provider=provider,
    )
    return responses.many(request, [serialize.grant(g) for g in rows], None)


@router.get(
    "/v3/grants/{grant_id}",
    summary="Find a grant (by id or email address)",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(schemas.GrantEnvelope, schemas.EXAMPLE_GRANT),
)
async def find_grant(request: Request, grant: GrantDep) -> responses.JsonBytes:
    return responses.one(request, serialize.grant(grant))


@router.patch(
    "/v3/grants/{grant_id}",
    summary="Update a grant's settings",
    response_class=responses.JsonBytes,
    responses={
        **schemas.one_doc(schemas.GrantEnvelope, schemas.EXAMPLE_GRANT),
        **schemas.errors_doc(413, 415),
    },
    openapi_extra=body_doc(schemas.GrantUpdate, {"settings": {"imap_port": 993}}),
)
async def update_grant(
    request: Request, grant: GrantDep, session: SessionDep
) -> responses.JsonBytes:
    body = await read_json(request, schemas.GrantUpdate)
    if body.settings is not None:
        secret = [k for k in body.settings if serialize.public_settings({k: 1}) == {}]
        if secret:
            raise InvalidRequest(
                f"{', '.join(secret[:3])}: credentials change through POST /v3/connect/custom"
            )
        grant.settings = {**(grant.settings or {}), **body.settings}
        await grants.set_status(session, grant, last_error=grant.last_error)
        changes.record(session, grant.id, "grant", grant.id, "updated", ["settings"])
        await session.commit()
    return responses.one(request, serialize.grant(grant))


@router.delete(
    "/v3/grants/{grant_id}",
    summary="Delete a grant, its data and the blobs only it used",
    response_class=responses.JsonBytes,
    responses=schemas.DELETED_DOC,
)
async def delete_grant(
    request: Request, grant: GrantDep, session: SessionDep, runtime: RuntimeDep
) -> responses.JsonBytes:
    keys = await listing.blob_keys_of_grant(session, grant.id)
    await grants.remove(session, grant.id)
    await session.commit()
    unused = keys - await listing.blob_keys_in_use(session, list(keys))
    await session.commit()

    def _delete_blobs() -> None:
        for key in unused:
            runtime.blobs.delete(key)

    await anyio.to_thread.run_sync(_delete_blobs)
    log.info("grant %s deleted with %d blobs", grant.id, len(unused))
    return responses.deleted(request)
