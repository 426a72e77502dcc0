from __future__ import annotations

from inboxsync.sync.imap.plan import (
    LocalFolder,
    RemoteFolder,
    batches,
    diff_changes,
    diff_full,
    normal_flags,
    plan_folders,
)

LOCAL = {
    1: ("m1", ["\\Seen"], 10),
    2: ("m2", [], 11),
    3: ("m3", ["\\Flagged", "\\Seen"], 12),
}


def test_normal_flags() -> None:
    assert normal_flags(["\\SEEN", "\\Recent", "$Label1", "\\flagged"]) == (
        "$Label1",
        "\\Flagged",
        "\\Seen",
    )


def test_diff_full() -> None:
    remote = {1: (["\\SEEN"], None), 3: (["\\Seen"], None), 5: ([], None), 4: ([], None)}
    diff = diff_full(LOCAL, remote)
    assert diff.new_uids == [5, 4]
    assert diff.gone_uids == [2]
    assert diff.flag_updates == [(3, ("\\Seen",), None)]


def test_diff_full_no_change_is_empty() -> None:
    remote = {uid: (flags, None) for uid, (_, flags, _) in LOCAL.items()}
    assert diff_full(LOCAL, remote).empty


def test_diff_changes_with_vanished_and_modseq() -> None:
    diff = diff_changes(LOCAL, {2: (["\\Seen"], 20), 7: ([], 21), 1: (["\\Seen"], 22)}, [3, 99])
    assert diff.new_uids == [7]
    assert diff.gone_uids == [3]
    assert diff.flag_updates == [(1, ("\\Seen",), 22), (2, ("\\Seen",), 20)]


def test_diff_changes_with_server_uids() -> None:
    diff = diff_changes(LOCAL, {}, server_uids=[1, 2, 8])
    assert diff.new_uids == [8] and diff.gone_uids == [3]


def test_batches_small_first() -> None:
    uids = list(range(1200, 0, -1))
    out = batches(uids, first=50, size=500)
    assert [len(b) for b in out] == [50, 500, 500, 150]
    assert out[0][0] == 1200 and out[-1][-1] == 1
    assert batches([], first=50) == []


def test_plan_folders_create_delete_rename() -> None:
    local = [
        LocalFolder("a", "INBOX", 1),
        LocalFolder("b", "Old", 7),
        LocalFolder("c", "Gone", 8),
        LocalFolder("d", "Twin1", 9),
        LocalFolder("e", "Twin2", 9),
    ]
    remote = [
        RemoteFolder("INBOX", "/", (), 1),
        RemoteFolder("New name", "/", (), 7),
        RemoteFolder("Fresh", "/", (), 3),
        RemoteFolder("TwinX", "/", (), 9),
    ]
    plan = plan_folders(remote, local)
    assert [(i, r.path) for i, r in plan.keep] == [("a", "INBOX")]
    assert [(i, r.path) for i, r in plan.rename] == [("b", "New name")]
    assert sorted(r.path for r in plan.create) == ["Fresh", "TwinX"]
    assert sorted(plan.delete) == ["c", "d", "e"]


def test_remote_folder_properties() -> None:
    f = RemoteFolder("Work/Projects/2024", "/", ("\\HasNoChildren",))
    assert f.name == "2024" and f.parent_path == "Work/Projects" and f.selectable
    assert not RemoteFolder("[Gmail]", "/", ("\\Noselect",)).selectable


def test_deleted_flag_counts_as_gone() -> None:
    """Without UIDPLUS our moves and deletes only mark \\Deleted: such UIDs are not mail anymore."""
    remote = {
        1: (["\\Seen", "\\Deleted"], None),
        2: ([], None),
        3: (["\\Deleted"], None),
        9: (["\\DELETED"], None),
    }
    diff = diff_full(LOCAL, remote)
    assert diff.gone_uids == [1, 3] and diff.new_uids == []
    changes = diff_changes(LOCAL, {3: (["\\Deleted"], 30), 8: (["\\Deleted"], 31)})
    assert changes.gone_uids == [3] and changes.new_uids == [] and changes.flag_updates == []


def test_a_list_that_changes_nothing_needs_no_write_transaction() -> None:
    """The usual full pass: the server's LIST matches the stored folders field for field, so the
    folder list is returned as stored (no transaction, no lease check); any difference is written."""
    from inboxsync.store.models import Folder
    from inboxsync.sync.imap.folder_list import _as_stored
    from inboxsync.sync.imap.roles import assign_roles

    remote = [
        RemoteFolder("INBOX", "/", ()),
        RemoteFolder("INBOX/Receipts", "/", ("\\HasNoChildren",)),
    ]
    stored = [
        Folder(id="f1", path="INBOX", name="INBOX", delimiter="/", role="inbox", attributes=[]),
        Folder(
            id="f2",
            path="INBOX/Receipts",
            name="Receipts",
            delimiter="/",
            role=None,
            attributes=["\\HasNoChildren"],
            parent_id="f1",
        ),
    ]
    for folder in stored[:1]:
        folder.parent_id = None
    plan = plan_folders(remote, [LocalFolder(f.id, f.path, None) for f in stored])
    roles = assign_roles((r.path, r.delimiter, r.attributes) for r in remote)
    assert plan.unchanged
    assert _as_stored(stored, remote, plan.keep, roles) == {
        "INBOX": stored[0],
        "INBOX/Receipts": stored[1],
    }
    stored[1].attributes = []  # the server now says \HasNoChildren: written
    assert _as_stored(stored, remote, plan.keep, roles) is None
    stored[1].attributes = ["\\HasNoChildren"]
    stored[1].parent_id = None  # hierarchy out of step: written
    assert _as_stored(stored, remote, plan.keep, roles) is None
