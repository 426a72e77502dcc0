"""Batch requests: the multipart/mixed codec (sans-IO), against Google's documented example shape."""

from __future__ import annotations

from inboxsync.providers.gmail import batch

# The answer shape of https://developers.google.com/gmail/api/guides/batch#format-of-a-batch-response
GOOGLE_ANSWER = (
    b"--batch_pK7JBAk73-E=_AA5eFwv4m2Q=\r\n"
    b"Content-Type: application/http\r\n"
    b"Content-ID: <response-item-1>\r\n"
    b"\r\n"
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: 13\r\n"
    b"\r\n"
    b'{"id": "abc"}\r\n'
    b"--batch_pK7JBAk73-E=_AA5eFwv4m2Q=\r\n"
    b"Content-Type: application/http\r\n"
    b"Content-ID: <response-item-0>\r\n"
    b"\r\n"
    b"HTTP/1.1 404 Not Found\r\n"
    b"Content-Type: application/json\r\n"
    b"\r\n"
    b'{"error": {"code": 404}}\r\n'
    b"--batch_pK7JBAk73-E=_AA5eFwv4m2Q=--\r\n"
)


def test_answers_come_back_in_call_order_whatever_the_part_order() -> None:
    answers = batch.decode(
        'multipart/mixed; boundary="batch_pK7JBAk73-E=_AA5eFwv4m2Q="', GOOGLE_ANSWER, 3
    )
    assert answers[0] is not None and answers[0].status == 404
    assert (
        answers[1] is not None and answers[1].status == 200 and answers[1].body == b'{"id": "abc"}'
    )
    assert answers[2] is None  # missing part: the caller asks again


def test_request_round_trip_keeps_bodies_byte_exact() -> None:
    calls = [
        batch.Call("GET", "/gmail/v1/users/me/messages/a?format=raw"),
        batch.Call("POST", "/x", b"line\r\n\r\nmore\r\n"),
    ]
    ctype, body = batch.encode(calls, boundary="b1")
    parts = batch.split_parts(ctype, body)
    parsed = [batch.parse_call(h, c) for h, c in parts]
    assert [(c.method, c.path) for c, _ in parsed] == [("GET", calls[0].path), ("POST", "/x")]
    assert [cid for _, cid in parsed] == ["<item-0>", "<item-1>"]
    assert parsed[1][0].body.startswith(b"line\r\n\r\nmore")


def test_answer_round_trip() -> None:
    raw = b"From: a\r\n\r\nbody ends with a line break\r\n"
    encoded = batch.encode_answers(
        [("<item-0>", batch.Answer(200, {"Content-Type": "message/rfc822"}, raw))], "zz"
    )
    answers = batch.decode("multipart/mixed; boundary=zz", encoded, 1)
    assert answers[0] is not None and answers[0].body == raw
