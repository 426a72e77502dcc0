"""The fake's HTTP side: Google's OAuth token endpoint and the Gmail API v1, as an ASGI app.

Serve it in process (``httpx.ASGITransport(app=fake.app)``) or on a loopback port (:mod:`.server`).
Beyond :mod:`.mailbox` it models what a client meets on the wire:

- OAuth (https://developers.google.com/identity/protocols/oauth2/web-server#offline): ``POST /token``
  with ``grant_type=refresh_token``; access tokens live ``token_ttl`` seconds; a revoked refresh token
  answers ``400 {"error": "invalid_grant"}``; a request with an expired or unknown token answers 401.
- Quota (https://developers.google.com/gmail/api/reference/quota): a bucket per user of 15,000 units a
  minute charged with each method's cost (every part of a batch too); over it a request answers 429
  ``rateLimitExceeded`` (or 403 ``userRateLimitExceeded`` with ``throttle_status=403``). Refused
  requests are not charged.
- Batches (https://developers.google.com/gmail/api/guides/batch): ``POST /batch/gmail/v1``,
  ``multipart/mixed``, at most 100 parts; each part is answered on its own (its own status).
- Uploads (https://developers.google.com/gmail/api/guides/uploads): ``/upload/gmail/v1/users/me/
  messages/send?uploadType=multipart|media``; 35 MB at most; the simple JSON ``raw`` form is refused
  above 5 MB here (Google's documented media limit for that form is lower than for uploads).
- Latency: every HTTP request (a batch is one) waits ``latency`` seconds.
- Faults: :meth:`GmailFake.inject` makes the next matching requests fail with a given status.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from inboxsync.providers.gmail import batch as batching
from inboxsync.providers.gmail.quota import PER_MINUTE, UNITS
from tests.support.gmail_fake.mailbox import ApiError, Mailbox
from tests.support.gmail_fake.routes import route

CLIENT_ID = "fake-client-id.apps.googleusercontent.com"
CLIENT_SECRET = "fake-client-secret"
MAX_RAW_JSON = 5 * 1024 * 1024
MAX_UPLOAD = 35 * 1024 * 1024


@dataclass
class Fault:
    status: int
    reason: str
    path_contains: str
    count: int
    skip: int = 0


@dataclass
class Quota:
    level: float = PER_MINUTE
    updated: float = field(default_factory=time.monotonic)

    def take(self, units: int, per_minute: float, window: float = 60.0) -> bool:
        now = time.monotonic()
        self.level = min(per_minute, self.level + (now - self.updated) * per_minute / window)
        self.updated = now
        if self.level < units:
            return False
        self.level -= units
        return True


class GmailFake:
    """Users, tokens, quota and faults; :attr:`app` is the ASGI application."""

    def __init__(self, *, latency: float = 0.0, quota_per_minute: float = PER_MINUTE) -> None:
        self.latency = latency
        self.quota_per_minute = quota_per_minute
        self.quota_window = 60.0  # seconds in which quota_per_minute refills (tests shrink it)
        self.throttle_status = 429
        self.token_ttl = 3599
        self.users: dict[str, Mailbox] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> email
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (email, expires)
        self.quotas: dict[str, Quota] = {}
        self.faults: list[Fault] = []
        self.requests: list[str] = []  # "METHOD path" of every call, batch parts included
        self.token_refreshes = 0
        self.throttled = 0
        self.http_requests = 0

    def add_user(self, email: str, *, history_id: int = 1_000_000) -> tuple[Mailbox, str]:
        """A mailbox and a refresh token for it."""
        box = Mailbox(email, history_id=history_id)
        self.users[email] = box
        token = "1//fake-refresh-" + secrets.token_urlsafe(16)
        self.refresh_tokens[token] = email
        return box, token

    def revoke(self, email: str) -> None:
        """The user removed our access: refresh tokens and access tokens stop working."""
        for token in [t for t, e in self.refresh_tokens.items() if e == email]:
            del self.refresh_tokens[token]
        for token in [t for t, (e, _) in self.access_tokens.items() if e == email]:
            del self.access_tokens[token]

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    def inject(
        self,
        status: int,
        *,
        reason: str = "",
        path_contains: str = "",
        count: int = 1,
        skip: int = 0,
    ) -> None:
        """After ``skip`` matching calls, the next ``count`` calls (requests or batch parts) whose path
        contains ``path_contains`` fail with ``status``."""
        self.faults.append(Fault(status, reason, path_contains, count, skip))

    def _fault(self, path: str) -> ApiError | None:
        for fault in self.faults:
            if fault.count > 0 and fault.path_contains in path:
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.count -= 1
                reason = fault.reason or {429: "rateLimitExceeded", 500: "backendError"}.get(
                    fault.status, "failed"
                )
                return ApiError(fault.status, reason, f"injected {fault.status}")
        return None

    # --- ASGI ------------------------------------------------------------------------------------

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        self.http_requests += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        response = await self._dispatch(request)
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        if path == "/token":
            return self._token(body)
        try:
            email = self._authorise(request.headers.get("authorization", ""))
            if path == "/batch/gmail/v1":
                return self._batch(email, request.headers.get("content-type", ""), body)
            status, payload, ctype = self.handle(
                email,
                request.method,
                path,
                request.url.query,
                body,
                request.headers.get("content-type", ""),
            )
        except ApiError as exc:
            return _json(exc.status, exc.body())
        return Response(payload, status, media_type=ctype)

    def _token(self, body: bytes) -> Response:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _json(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("grant_type") != "refresh_token":
            return _json(400, {"error": "unsupported_grant_type"})
        email = self.refresh_tokens.get(form.get("refresh_token", ""))
        if email is None:
            return _json(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
            )
        self.token_refreshes += 1
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self.access_tokens[token] = (email, time.monotonic() + self.token_ttl)
        return _json(
            200,
            {
                "access_token": token,
                "expires_in": self.token_ttl,
                "token_type": "Bearer",
                "scope": "https://mail.google.com/",
            },
        )

    def _authorise(self, header: str) -> str:
        token = header.removeprefix("Bearer ").strip()
        found = self.access_tokens.get(token)
        if found is None or found[1] < time.monotonic():
            raise ApiError(401, "authError", "Request had invalid authentication credentials.")
        return found[0]

    def _charge(self, email: str, units: int) -> None:
        quota = self.quotas.setdefault(email, Quota(level=self.quota_per_minute))
        if not quota.take(units, self.quota_per_minute, self.quota_window):
            self.throttled += 1
            if self.throttle_status == 403:
                raise ApiError(403, "userRateLimitExceeded", "User-rate limit exceeded")
            raise ApiError(429, "rateLimitExceeded", "User-rate limit exceeded.  Retry after 1s")

    def handle(
        self, email: str, method: str, path: str, query: str, body: bytes, ctype: str
    ) -> tuple[int, bytes, str]:
        """One API call (a request, or a part of a batch): (status, body, content type)."""
        self.requests.append(f"{method} {path}")
        fault = self._fault(path)
        if fault is not None:
            raise fault
        name, handler, args = route(method, path)
        self._charge(email, UNITS[name])
        params = {k: v for k, v in parse_qs(query, keep_blank_values=True).items()}
        result = handler(self, self.users[email], params, body, ctype, *args)
        return 200, json.dumps(result).encode(), "application/json"

    def _batch(self, email: str, ctype: str, body: bytes) -> Response:
        try:
            parts = batching.split_parts(ctype, body)
        except ValueError as exc:
            raise ApiError(400, "badRequest", str(exc)) from exc
        if len(parts) > 100:
            raise ApiError(400, "badRequest", "A batch may hold at most 100 calls")
        answers: list[tuple[str, batching.Answer]] = []
        for headers, content in parts:
            call, cid = batching.parse_call(headers, content)
            split = urlsplit(call.path)
            try:
                status, payload, ptype = self.handle(
                    email, call.method, split.path, split.query, call.body, call.content_type
                )
            except ApiError as exc:
                status, payload, ptype = (
                    exc.status,
                    json.dumps(exc.body()).encode(),
                    "application/json",
                )
            answers.append((cid, batching.Answer(status, {"Content-Type": ptype}, payload)))
        boundary = "batch_" + secrets.token_hex(8)
        return Response(
            batching.encode_answers(answers, boundary),
            200,
            media_type=f"multipart/mixed; boundary={boundary}",
        )


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body).encode(), status, media_type="application/json")


def raw_of(body: dict[str, Any]) -> bytes:
    raw = str(body.get("raw", ""))
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except ValueError as exc:
        raise ApiError(400, "invalidArgument", "Invalid value for ByteString") from exc
