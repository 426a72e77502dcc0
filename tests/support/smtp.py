"""An SMTP sink on a loopback port (pytest plugin): records every message with its envelope.

Fixtures: ``smtp_sink`` (no AUTH) and ``smtp_sink_factory(username=..., password=..., ...)``.
Rejections can be set up front or changed at any time from the test::

    sink.reject_rcpt["nobody@example.org"] = "550 5.1.1 No such user"
    sink.reject_mail = "451 4.3.0 Try again later"     # every MAIL FROM, until set back to None
    sink.fail_next("DATA", "451 4.3.0 Busy", times=2)  # the next two DATA commands only

``stop()`` / ``start()`` keep the port, the recorded messages and the settings.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.ports import LOOPBACK, free_port

Stage = Literal["MAIL", "RCPT", "DATA"]

# AUTH without TLS is the point on loopback: silence aiosmtpd's warnings about it.
_AUTH_WARNING = "Requiring AUTH while not requiring TLS"
warnings.filterwarnings("ignore", _AUTH_WARNING, UserWarning)
logging.getLogger("mail.log").setLevel(logging.ERROR)


def pytest_configure(config: pytest.Config) -> None:
    # pytest resets warning filters for each test; this one must survive that.
    config.addinivalue_line("filterwarnings", f"ignore:{_AUTH_WARNING}:UserWarning")


@dataclass
class ReceivedMessage:
    """One accepted message. ``data`` is the DATA payload exactly as received (after dot-unstuffing)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)
    rcpt_options: list[str] = field(default_factory=list)
    auth_user: str | None = None
    received_at: float = field(default_factory=time.time)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        reply = self.sink._rejection("MAIL", address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.sink._rejection("RCPT", address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.sink._rejection("DATA", envelope.mail_from or "")
        if reply:
            return reply
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        raw = envelope.original_content
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=raw if isinstance(raw, bytes) else b"",
            mail_options=list(envelope.mail_options),
            rcpt_options=list(envelope.rcpt_options),
            auth_user=login.decode() if isinstance(login, bytes) else None,
        )
        return self.sink._record(message)


class SmtpSink:
    """An aiosmtpd server in a thread; ``messages`` lists what was accepted, in order."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        auth_required: bool | None = None,
        data_size_limit: int = 33_554_432,
        enable_smtputf8: bool = True,
    ) -> None:
        self.host = LOOPBACK
        self.port = free_port()
        self.username = username
        self.password = password
        self.auth_required = (username is not None) if auth_required is None else auth_required
        self.data_size_limit = data_size_limit
        self.enable_smtputf8 = enable_smtputf8
        self.messages: list[ReceivedMessage] = []
        self.reject_mail: str | None = None
        self.reject_rcpt: dict[str, str] = {}
        self.reject_data: str | None = None
        self.auth_attempts: list[tuple[str, bool]] = []
        self._once: dict[Stage, deque[str]] = {"MAIL": deque(), "RCPT": deque(), "DATA": deque()}
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    # --- behaviour ------------------------------------------------------------------------------

    def fail_next(self, stage: Stage, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` commands of ``stage`` with ``reply`` (e.g. "451 4.3.0 Busy")."""
        self._once[stage].extend([reply] * times)

    def _rejection(self, stage: Stage, address: str) -> str | None:
        if self._once[stage]:
            return self._once[stage].popleft()
        if stage == "MAIL":
            return self.reject_mail
        if stage == "RCPT":
            return self.reject_rcpt.get(address) or self.reject_rcpt.get(address.lower())
        return self.reject_data

    def _record(self, message: ReceivedMessage) -> str:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()
            return f"250 2.0.0 OK queued as {len(self.messages)}"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.username is not None
            and auth_data.login == self.username.encode()
            and auth_data.password == (self.password or "").encode()
        )
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else mechanism
        self.auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    # --- waiting --------------------------------------------------------------------------------

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived (use ``asyncio.to_thread`` from async)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"{len(self.messages)} of {count} messages after {timeout}s")
            return list(self.messages)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Start (or restart on the same port)."""
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {
            "data_size_limit": self.data_size_limit,
            "enable_SMTPUTF8": self.enable_smtputf8,
            "decode_data": False,
            "ident": "inboxsync-test-sink",
        }
        if self.username is not None:
            kwargs |= {
                "authenticator": self._authenticate,
                "auth_require_tls": False,
                "auth_required": self.auth_required,
            }
        controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __repr__(self) -> str:
        return f"<SmtpSink {self.host}:{self.port} {len(self.messages)} messages>"


SmtpSinkFactory = Callable[..., SmtpSink]


@pytest.fixture
def smtp_sink_factory() -> Iterator[SmtpSinkFactory]:
    """``smtp_sink_factory(username=None, password=None, auth_required=None, ...) -> SmtpSink``."""
    sinks: list[SmtpSink] = []

    def make(**kwargs: Any) -> SmtpSink:
        sink = SmtpSink(**kwargs)
        sinks.append(sink)
        sink.start()
        return sink

    yield make
    for sink in sinks:
        sink.stop()


@pytest.fixture
def smtp_sink(smtp_sink_factory: SmtpSinkFactory) -> SmtpSink:
    """A started SMTP sink without AUTH that accepts everything."""
    return smtp_sink_factory()
