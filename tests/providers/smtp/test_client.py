"""The SMTP client against the aiosmtpd sink: AUTH, replies mapped onto the exception tree."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from inboxsync.core.accounts import Endpoint
from inboxsync.errors import AuthError, ConnectionLost, ObjectError, RateLimited
from inboxsync.providers.smtp import DataInterrupted, SmtpSender
from tests.support.ports import LOOPBACK, free_port
from tests.support.smtp import SmtpSink, SmtpSinkFactory

RAW = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def sender(sink: SmtpSink, **kw: Any) -> SmtpSender:
    endpoint = Endpoint(
        host=sink.host,
        port=sink.port,
        security="none",
        username=kw.pop("username", "user"),
        password=kw.pop("password", "secret"),
        **kw,
    )
    return SmtpSender(endpoint, timeout=5)


async def test_plain_login_and_delivery(smtp_sink_factory: SmtpSinkFactory) -> None:
    sink = smtp_sink_factory(username="user", password="secret")
    marks: list[str] = []

    async def before_data() -> None:
        marks.append("data")

    result = await sender(sink).send(
        "a@example.com", ["b@example.org", "c@example.org"], RAW, before_data=before_data
    )
    assert result.code == 250 and marks == ["data"]
    (got,) = sink.messages
    assert got.data == RAW and got.rcpt_tos == ["b@example.org", "c@example.org"]
    assert got.auth_user == "user"


async def test_wrong_password_is_auth_error(smtp_sink_factory: SmtpSinkFactory) -> None:
    sink = smtp_sink_factory(username="user", password="secret")
    with pytest.raises(AuthError) as err:
        await sender(sink, password="nope").send("a@example.com", ["b@example.org"], RAW)
    assert err.value.provider_error and err.value.provider_error["code"] == 535
    assert sink.messages == []


async def test_auth_required_but_not_given(smtp_sink_factory: SmtpSinkFactory) -> None:
    sink = smtp_sink_factory(username="user", password="secret")
    with pytest.raises(AuthError):
        await sender(sink, password="").send("a@example.com", ["b@example.org"], RAW)


async def test_replies_map_to_the_tree(smtp_sink: SmtpSink) -> None:
    smtp = sender(smtp_sink)
    smtp_sink.reject_rcpt["gone@example.org"] = "550 5.1.1 No such user"
    with pytest.raises(ObjectError) as err:
        await smtp.send("a@example.com", ["gone@example.org"], RAW)
    assert "No such user" in str(err.value) and not err.value.transient

    result = await smtp.send("a@example.com", ["gone@example.org", "b@example.org"], RAW)
    assert result.refused == {"gone@example.org": "550 5.1.1 No such user"}
    assert smtp_sink.messages[-1].rcpt_tos == ["b@example.org"]

    smtp_sink.fail_next("DATA", "451 4.3.0 Busy")
    with pytest.raises(RateLimited) as busy:
        await smtp.send("a@example.com", ["b@example.org"], RAW)
    assert busy.value.transient

    smtp_sink.fail_next("DATA", "552 5.3.4 Message too big")
    with pytest.raises(ObjectError, match="too big"):
        await smtp.send("a@example.com", ["b@example.org"], RAW)
    assert len(smtp_sink.messages) == 1


async def test_server_down_is_connection_lost(smtp_sink: SmtpSink) -> None:
    smtp_sink.stop()
    with pytest.raises(ConnectionLost) as err:
        await sender(smtp_sink).send("a@example.com", ["b@example.org"], RAW)
    assert err.value.transient and not isinstance(err.value, DataInterrupted)


class _XOAuthHandler:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope.original_content or b"")
        return "250 OK"


async def test_xoauth2() -> None:
    seen: list[str] = []

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        return AuthResult(success=True, handled=True)

    class XSMTP(SMTP):
        async def auth_XOAUTH2(self, _: SMTP, args: list[str]) -> AuthResult:
            decoded = base64.b64decode(args[1]).decode()
            seen.append(decoded)
            ok = "auth=Bearer good-token" in decoded
            return AuthResult(success=ok, handled=False)

    class XController(Controller):
        def factory(self) -> SMTP:
            return XSMTP(self.handler, **self.SMTP_kwargs)

    handler = _XOAuthHandler()
    port = free_port()
    controller = XController(
        handler,
        hostname=LOOPBACK,
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        endpoint = Endpoint(LOOPBACK, port, "none", "me@example.com", oauth_token="good-token")
        await SmtpSender(endpoint, timeout=5).send("me@example.com", ["b@example.org"], RAW)
        assert handler.received == [RAW]
        assert seen == ["user=me@example.com\x01auth=Bearer good-token\x01\x01"]
        bad = Endpoint(LOOPBACK, port, "none", "me@example.com", oauth_token="bad")
        with pytest.raises(AuthError):
            await SmtpSender(bad, timeout=5).send("me@example.com", ["b@example.org"], RAW)
    finally:
        controller.stop()
