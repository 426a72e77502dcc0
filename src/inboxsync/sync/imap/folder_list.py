"""Keep the grant's folders in step with the server's LIST: create, rename, delete, roles, hierarchy."""

from __future__ import annotations

import logging

from inboxsync.errors import ProtocolError, ProviderError
from inboxsync.providers.imap.client import ImapClient
from inboxsync.store import folders as folder_repo
from inboxsync.store.models import Folder
from inboxsync.sync.imap.context import SyncContext
from inboxsync.sync.imap.plan import LocalFolder, RemoteFolder, plan_folders
from inboxsync.sync.imap.roles import assign_roles

log = logging.getLogger(__name__)

ROLE_ORDER = {"inbox": 0, "sent": 1, "drafts": 2, "archive": 3, "all": 9, "trash": 7, "spam": 8}


async def remote_folders(client: ImapClient, known: dict[str, int | None]) -> list[RemoteFolder]:
    """LIST, plus STATUS UIDVALIDITY for folders we have not seen (to recognise renames)."""
    entries = await client.list_folders()
    out = []
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:  # a server that lists a name twice (or two spellings of one)
            continue
        seen.add(entry.name)
        remote = RemoteFolder(entry.name, entry.delimiter, tuple(entry.flags))
        if remote.selectable and entry.name not in known:
            try:
                status = await client.status(entry.name, ("UIDVALIDITY",))
                remote = RemoteFolder(
                    entry.name, entry.delimiter, tuple(entry.flags), status.uidvalidity
                )
            except ProviderError as exc:  # a folder we cannot STATUS is still listed
                if not exc.transient:
                    log.info("STATUS %r failed: %s", entry.name, exc)
                else:
                    raise
        out.append(remote)
    return out


async def sync_folder_list(client: ImapClient, ctx: SyncContext) -> list[Folder]:
    """Reconcile and return the selectable folders, INBOX first then by role."""
    async with ctx.db.session() as session:
        local = await folder_repo.list_for_grant(session, ctx.grant_id)
    remote = await remote_folders(client, {f.path: f.uidvalidity for f in local})
    if local and not any(r.path.upper() == "INBOX" for r in remote):
        # Every IMAP account has an INBOX: a LIST without it is a server glitch, not a request to
        # delete every folder (and the messages only they hold).
        raise ProtocolError(f"LIST returned no INBOX ({len(remote)} folders): not trusting it")
    plan = plan_folders(remote, [LocalFolder(f.id, f.path, f.uidvalidity) for f in local])
    roles = assign_roles((r.path, r.delimiter, r.attributes) for r in remote)
    unchanged = _as_stored(local, remote, plan.keep, roles) if plan.unchanged else None
    if unchanged is not None:  # the usual pass: no write transaction (and no lease check) at all
        return _ordered([unchanged[r.path] for r in remote if r.selectable])

    async with ctx.db.transaction() as session:
        rows = {f.id: f for f in await folder_repo.list_for_grant(session, ctx.grant_id)}
        by_path: dict[str, Folder] = {}
        for folder_id in plan.delete:
            folder = rows.get(folder_id)
            if folder is not None:
                ctx.orphans.update(
                    await folder_repo.remove(
                        session, folder, self_email=ctx.email, defer_orphans=True
                    )
                )
        for folder_id, r in [*plan.keep, *plan.rename]:
            folder = rows[folder_id]
            changed = []
            for attr, value in (
                ("path", r.path),
                ("name", r.name),
                ("delimiter", r.delimiter),
                ("role", roles.get(r.path)),
                ("attributes", list(r.attributes)),
            ):
                if getattr(folder, attr) != value:
                    setattr(folder, attr, value)
                    changed.append(attr)
            if changed:
                folder_repo.touch(session, folder, changed)
            by_path[r.path] = folder
        for r in plan.create:
            by_path[r.path] = folder_repo.create(
                session,
                ctx.grant_id,
                path=r.path,
                name=r.name,
                delimiter=r.delimiter,
                role=roles.get(r.path),
                attributes=list(r.attributes),
            )
        for r in remote:
            folder = by_path[r.path]
            parent = by_path.get(r.parent_path) if r.parent_path else None
            parent_id = parent.id if parent is not None else None
            if folder.parent_id != parent_id:
                folder.parent_id = parent_id
                if r not in plan.create:
                    folder_repo.touch(session, folder, ["parent_id"])
        selectable = [by_path[r.path] for r in remote if r.selectable]
    return _ordered(selectable)


def _ordered(folders: list[Folder]) -> list[Folder]:
    return sorted(folders, key=lambda f: (ROLE_ORDER.get(f.role or "", 5), f.path))


def _as_stored(
    local: list[Folder],
    remote: list[RemoteFolder],
    keep: list[tuple[str, RemoteFolder]],
    roles: dict[str, str | None],
) -> dict[str, Folder] | None:
    """The local folders by path when the server's LIST changes nothing of them (every field the
    transaction below would write already has its value); None otherwise."""
    by_id = {f.id: f for f in local}
    by_path = {r.path: by_id[folder_id] for folder_id, r in keep}
    for folder_id, r in keep:
        folder = by_id[folder_id]
        wanted = (r.path, r.name, r.delimiter, roles.get(r.path), list(r.attributes))
        if (folder.path, folder.name, folder.delimiter, folder.role, folder.attributes) != wanted:
            return None
    for r in remote:
        parent = by_path.get(r.parent_path) if r.parent_path else None
        if by_path[r.path].parent_id != (parent.id if parent is not None else None):
            return None
    return by_path
