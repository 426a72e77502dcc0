"""The sync planner: pure functions from local and server state to what must change. No I/O.

Flag sets are compared case-insensitively for system flags (``\\Seen`` = ``\\SEEN``) and ``\\Recent``
is ignored: it is session state, not message state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

LocalState = Mapping[
    int, tuple[str, Sequence[str], int | None]
]  # uid -> (message id, flags, modseq)
RemoteFlags = Mapping[int, tuple[Sequence[str], int | None]]  # uid -> (flags, modseq)


def normal_flags(flags: Iterable[str]) -> tuple[str, ...]:
    """Flags in a canonical form: system flags capitalised, ``\\Recent`` dropped, sorted."""
    out = set()
    for flag in flags:
        if flag.startswith("\\"):
            if flag.lower() == "\\recent":
                continue
            flag = "\\" + flag[1:].capitalize()
        out.add(flag)
    return tuple(sorted(out))


@dataclass(frozen=True)
class FolderDiff:
    new_uids: list[int] = field(default_factory=list)  # on the server, not here: newest first
    gone_uids: list[int] = field(default_factory=list)  # here, no longer on the server
    flag_updates: list[tuple[int, tuple[str, ...], int | None]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new_uids or self.gone_uids or self.flag_updates)


def _deleted(remote: RemoteFlags) -> set[int]:
    """UIDs marked \\Deleted: as good as expunged (a server without UIDPLUS keeps our moved and
    deleted messages this way until someone expunges; clients hide them)."""
    return {
        uid for uid, (flags, _) in remote.items() if any(f.lower() == "\\deleted" for f in flags)
    }


def diff_full(local: LocalState, remote: RemoteFlags) -> FolderDiff:
    """Compare every UID (legacy servers: one ``UID FETCH 1:* (FLAGS)`` gives ``remote``)."""
    deleted = _deleted(remote)
    if deleted:
        remote = {uid: v for uid, v in remote.items() if uid not in deleted}
    new = sorted((uid for uid in remote if uid not in local), reverse=True)
    gone = sorted(uid for uid in local if uid not in remote)
    updates = _flag_updates(local, remote)
    return FolderDiff(new, gone, updates)


def diff_changes(
    local: LocalState,
    changed: RemoteFlags,
    vanished: Iterable[int] = (),
    server_uids: Iterable[int] | None = None,
) -> FolderDiff:
    """Apply what CONDSTORE/QRESYNC reported: changed flags, vanished UIDs, and (when known) every UID."""
    deleted = _deleted(changed)
    if deleted:
        changed = {uid: v for uid, v in changed.items() if uid not in deleted}
    gone = {uid for uid in [*vanished, *deleted] if uid in local}
    new = {uid for uid in changed if uid not in local}
    if server_uids is not None:
        on_server = set(server_uids) - deleted
        gone.update(uid for uid in local if uid not in on_server)
        new.update(uid for uid in on_server if uid not in local)
    updates = _flag_updates(local, {u: v for u, v in changed.items() if u not in gone})
    return FolderDiff(sorted(new - gone, reverse=True), sorted(gone), updates)


def _flag_updates(
    local: LocalState, remote: RemoteFlags
) -> list[tuple[int, tuple[str, ...], int | None]]:
    updates = []
    for uid, (flags, modseq) in remote.items():
        mine = local.get(uid)
        if mine is None:
            continue
        theirs = normal_flags(flags)
        if theirs != normal_flags(mine[1]) or (modseq is not None and modseq != mine[2]):
            updates.append((uid, theirs, modseq))
    updates.sort()
    return updates


def batches(
    uids_newest_first: Sequence[int], *, first: int = 50, size: int = 500
) -> list[list[int]]:
    """Download batches: a small first one (the newest mail is listable quickly), then ``size``."""
    out: list[list[int]] = []
    start = 0
    step = first
    while start < len(uids_newest_first):
        out.append(list(uids_newest_first[start : start + step]))
        start += step
        step = size
    return out


# --- folders -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFolder:
    path: str
    delimiter: str | None
    attributes: tuple[str, ...]
    uidvalidity: int | None = None

    @property
    def selectable(self) -> bool:
        lowered = {a.lower() for a in self.attributes}
        return not ({"\\noselect", "\\nonexistent"} & lowered)

    @property
    def name(self) -> str:
        return self.path.rsplit(self.delimiter, 1)[-1] if self.delimiter else self.path

    @property
    def parent_path(self) -> str | None:
        if not self.delimiter or self.delimiter not in self.path:
            return None
        return self.path.rsplit(self.delimiter, 1)[0]


@dataclass(frozen=True)
class LocalFolder:
    id: str
    path: str
    uidvalidity: int | None


@dataclass(frozen=True)
class FolderPlan:
    create: list[RemoteFolder]
    keep: list[tuple[str, RemoteFolder]]  # (local id, remote)
    rename: list[tuple[str, RemoteFolder]]  # (local id, remote under its new path)
    delete: list[str]  # local ids

    @property
    def unchanged(self) -> bool:
        """No folder to create, rename or delete (attributes may still have changed)."""
        return not (self.create or self.rename or self.delete)


def plan_folders(remote: Sequence[RemoteFolder], local: Sequence[LocalFolder]) -> FolderPlan:
    """Match the server's folder list with ours; a folder that vanished while exactly one new folder
    with the same UIDVALIDITY appeared was renamed (it keeps its id and its messages)."""
    by_path = {f.path: f for f in local}
    remote_paths = {r.path for r in remote}
    keep = [(by_path[r.path].id, r) for r in remote if r.path in by_path]
    appeared = [r for r in remote if r.path not in by_path]
    vanished = [f for f in local if f.path not in remote_paths]

    rename: list[tuple[str, RemoteFolder]] = []
    for old in list(vanished):
        if old.uidvalidity is None:
            continue
        same = [r for r in appeared if r.uidvalidity == old.uidvalidity]
        others = [f for f in vanished if f.uidvalidity == old.uidvalidity]
        if len(same) == 1 and len(others) == 1:
            rename.append((old.id, same[0]))
            appeared.remove(same[0])
            vanished.remove(old)
    return FolderPlan(appeared, keep, rename, [f.id for f in vanished])
