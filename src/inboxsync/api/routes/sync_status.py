"""``GET /v3/grants/{grant_id}/sync``: where the sync of a grant stands (our addition to Nylas v3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from inboxsync.api.deps import PrincipalDep, SessionDep
from inboxsync.api.envelope import one
from inboxsync.api.views import schemas
from inboxsync.store import folders, grants, messages, outbox

router = APIRouter(tags=["sync"], responses=schemas.errors_doc(400, 401, 404))


@router.get("/v3/grants/{grant_id}/sync", summary="Sync status of a grant")
async def sync_status(
    request: Request, grant_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    grant = await grants.get(session, grant_id, api_key_id=principal.api_key_id)
    state = "invalid" if grant.grant_status == "invalid" else grant.sync_state
    rows = await folders.list_for_grant(session, grant.id)
    return one(
        request,
        {
            "grant_id": grant.id,
            "state": state,
            "initial_sync_complete": grant.initial_sync_complete,
            "messages_synced": await messages.count_for_grant(session, grant.id),
            "last_error": grant.last_error,
            "write_back": await outbox.summary(session, grant.id),
            "sync_started_at": grant.sync_started_at,
            "last_sync_at": grant.last_sync_at,
            "folders": [
                {
                    "id": f.id,
                    "name": f.path,
                    "role": f.role,
                    "total": f.cursor.get("exists", f.total_count),
                    "synced": f.total_count,
                }
                for f in rows
            ],
        },
    )
