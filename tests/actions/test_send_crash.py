"""SIGKILL of ``inboxsync serve`` at the named points of a send (test hook INBOXSYNC_TEST_CRASH_AT):
after a restart every message is delivered exactly once and filed once, or, in the one window we
cannot settle (between handing DATA over and recording the answer), failed and never resent."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.actions.serve_proc import AUTH, Serve, wait
from tests.support.dovecot import Dovecot
from tests.support.smtp import SmtpSink

pytestmark = [pytest.mark.slow, pytest.mark.dovecot]

LEASE = {"INBOXSYNC_SEND_LEASE_SECONDS": "1"}


def sent_count(server: Dovecot) -> int:
    with server.admin() as admin:
        return len(admin.fetch_all("Sent"))


@pytest.mark.parametrize("point", ["send.accepted", "send.smtp_done", "send.appended"])
def test_kill_and_restart_delivers_once(
    point: str, dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    serve = Serve(tmp_path / "data")
    serve.start(**LEASE)
    try:
        grant = serve.connect(dovecot, smtp_sink)
        serve.stop()
        serve.start(INBOXSYNC_TEST_CRASH_AT=point, **LEASE)
        body = {"to": [{"email": "ann@example.org"}], "subject": f"crash {point}", "body": "x"}
        try:
            answer = httpx.post(
                f"{serve.url}/v3/grants/{grant}/messages/send", json=body, headers=AUTH, timeout=30
            )
            assert point == "send.appended", answer.text  # that one is the worker's, later
        except httpx.TransportError:
            pass  # killed while answering
        assert serve.wait_dead() == -9
        delivered = 0 if point == "send.accepted" else 1
        assert len(smtp_sink.messages) == delivered
        time.sleep(1.2)  # the dead request's lease runs out
        serve.start(**LEASE)
        wait(lambda: len(smtp_sink.messages) == 1 and sent_count(dovecot) == 1, "sent and filed")
        wait(lambda: serve.status(grant)["write_back"]["pending"] == 0, "settled")
        time.sleep(0.5)
        assert len(smtp_sink.messages) == 1 and sent_count(dovecot) == 1
        listed = httpx.get(f"{serve.url}/v3/grants/{grant}/messages", headers=AUTH).json()["data"]
        assert [m["subject"] for m in listed] == [f"crash {point}"]
    finally:
        serve.stop()


def test_kill_during_data_is_not_resent(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    serve = Serve(tmp_path / "data")
    serve.start(INBOXSYNC_TEST_CRASH_AT="send.data", **LEASE)
    try:
        grant = serve.connect(dovecot, smtp_sink)
        body = {"to": [{"email": "ann@example.org"}], "subject": "unknown", "body": "x"}
        try:
            httpx.post(
                f"{serve.url}/v3/grants/{grant}/messages/send", json=body, headers=AUTH, timeout=30
            )
        except httpx.TransportError:
            pass
        assert serve.wait_dead() == -9
        time.sleep(1.2)
        serve.start(**LEASE)
        failed = wait(lambda: serve.status(grant)["write_back"]["failed"], "marked failed")
        assert failed[0]["kind"] == "send_message" and "not sent again" in failed[0]["error"]
        assert smtp_sink.messages == []
    finally:
        serve.stop()
