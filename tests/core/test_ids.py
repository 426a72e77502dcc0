from __future__ import annotations

import time

from inboxsync.core.ids import is_valid_id, new_id


def test_shape_and_uniqueness() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 26 and is_valid_id(i) and i == i.lower() for i in ids)
    assert all(c in "0123456789abcdefghjkmnpqrstvwxyz" for c in "".join(ids[:100]))


def test_ids_sort_by_time() -> None:
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert first < second
