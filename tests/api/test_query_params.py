"""Query parameters read by hand (api/views/query.py): values, clear 400s, and their OpenAPI shape."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from inboxsync.api.views import query as q
from inboxsync.errors import InvalidRequest


def params(text: str) -> QueryParams:
    return QueryParams(text)


def test_values_as_the_sdk_sends_them() -> None:
    query = params("limit=20&unread=True&starred=false&from=a@x.org,b@x.org&from=c@x.org&in=inbox")
    assert q.LIMIT.read(query) == 20
    assert q.UNREAD.read(query) is True
    assert q.STARRED.read(query) is False
    assert q.FROM.read(query) == ("a@x.org", "b@x.org", "c@x.org")
    assert q.IN.read(query) == "inbox"
    assert q.SUBJECT.read(query) is None
    assert q.TO.read(query) == ()
    assert q.RECEIVED_AFTER.read(params("received_after=")) is None


@pytest.mark.parametrize(
    ("text", "param", "message"),
    [
        ("limit=0", q.LIMIT, "limit must be between 1 and 200, not 0"),
        ("limit=201", q.LIMIT, "limit must be between 1 and 200, not 201"),
        ("limit=ten", q.LIMIT, "limit must be a whole number, not 'ten'"),
        ("limit=1e3", q.LIMIT, "limit must be a whole number"),
        ("limit=%D9%A3", q.LIMIT, "limit must be a whole number"),  # an Arabic-Indic digit
        ("received_after=-1", q.RECEIVED_AFTER, "received_after must be between 0 and"),
        ("received_after=" + "9" * 30, q.RECEIVED_AFTER, "must be a whole number"),
        ("unread=maybe", q.UNREAD, "unread must be true or false, not 'maybe'"),
        ("page_token=" + "a" * 513, q.PAGE_TOKEN, "page_token is longer than 512 characters"),
        ("from=" + ",".join(f"u{i}@x.org" for i in range(26)), q.FROM, "at most 25"),
    ],
)
def test_bad_values_are_400_with_the_parameter_named(
    text: str, param: object, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(")):
        param.read(params(text))  # type: ignore[attr-defined]


def test_choice_accepts_any_case_and_names_the_choices() -> None:
    sort = q.Choice("sort", choices=("newest", "relevance"))
    assert sort.read(params("sort=Relevance")) == "relevance"
    with pytest.raises(InvalidRequest, match="sort must be one of newest, relevance"):
        sort.read(params("sort=oldest"))


def test_documented_from_the_same_objects() -> None:
    doc = q.document(q.LIMIT, q.FROM, q.UNREAD)["parameters"]
    assert [p["name"] for p in doc] == ["limit", "from", "unread"]
    assert all(p["in"] == "query" and p["required"] is False for p in doc)
    assert doc[0]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert doc[1]["schema"]["type"] == "array"
    assert doc[2]["example"] == "True"
