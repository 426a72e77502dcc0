from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inboxsync.providers.imap.uidset import UidSet


def test_parse_and_format() -> None:
    s = UidSet.parse("7:5,1,2,3,10")
    assert str(s) == "1:3,5:7,10"
    assert list(s) == [1, 2, 3, 5, 6, 7, 10]
    assert len(s) == 7
    assert 6 in s and 4 not in s and "6" not in s
    assert s == UidSet.parse(b"1:3,5:7,10")


def test_big_range_stays_small() -> None:
    s = UidSet.parse("1:4000000")
    assert len(s) == 4_000_000
    assert s.ranges == ((1, 4_000_000),)


@pytest.mark.parametrize("bad", ["", "0", "1:*", "a", "1,,2"])
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        UidSet.parse(bad)


def test_union_and_bool() -> None:
    assert not UidSet()
    assert str(UidSet.of([1, 3]).union(UidSet.of([2]))) == "1:3"


@given(st.sets(st.integers(min_value=1, max_value=500)))
def test_of_round_trips(numbers: set[int]) -> None:
    s = UidSet.of(numbers)
    assert list(s) == sorted(numbers)
    if numbers:
        assert UidSet.parse(str(s)) == s
