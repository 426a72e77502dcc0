"""An asyncio client of the Gmail API v1 over httpx: quota, token refresh, retries, batches.

Every call goes through :meth:`GmailClient.call`, which draws its documented units from the user's
:class:`~.quota.TokenBucket` first, then:

- 401: refresh the access token once and repeat (``invalid_grant`` on refresh is an AuthError);
- 429 and 403 ``userRateLimitExceeded``/``rateLimitExceeded``: pause the user's bucket (Retry-After or
  exponential backoff with jitter) and repeat;
- 5xx and network errors: exponential backoff with jitter and repeat;
- anything else, or too many attempts: raise (:mod:`.failures`).

Methods return Google's JSON as plain dicts; the sync layer turns them into values.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from inboxsync.errors import ConnectionLost, ProviderError
from inboxsync.providers.gmail import batch as batching
from inboxsync.providers.gmail.failures import error_for, is_rate_limited, parse_body
from inboxsync.providers.gmail.oauth import GoogleConfig, TokenSource
from inboxsync.providers.gmail.quota import UNITS, TokenBucket, bucket_for

ME = "/gmail/v1/users/me"
SIMPLE_UPLOAD_LIMIT = 5 * 1024 * 1024  # above this, messages.send takes a multipart upload
MAX_SEND = 35 * 1024 * 1024  # Gmail's limit of a message sent through the API
Json = dict[str, Any]


class GmailClient:
    """One user's Gmail. ``user`` keys the shared quota bucket (the grant id)."""

    def __init__(
        self,
        config: GoogleConfig,
        refresh_token: str,
        *,
        user: str,
        bucket: TokenBucket | None = None,
        attempts: int = 6,
        backoff: float = 1.0,
    ) -> None:
        self.config = config
        self.http = httpx.AsyncClient(
            base_url=config.api_url, transport=config.transport, timeout=config.timeout
        )
        self.tokens = TokenSource(config, refresh_token, self.http)
        self.bucket = bucket or bucket_for(user)
        self.attempts = attempts
        self.backoff = backoff
        self.stats = {"requests": 0, "retries": 0, "throttled": 0}

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> GmailClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + random.random()
        return self.backoff * 2.0**attempt * (0.5 + random.random())

    async def send(
        self,
        method: str,
        path: str,
        *,
        units: int,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        """One HTTP exchange with the retry policy of the module docstring; returns a 2xx answer."""
        await self.bucket.acquire(units)
        stale: str | None = None
        refreshed = False
        for attempt in range(self.attempts):
            token = await self.tokens.token(stale=stale)
            headers = {"Authorization": f"Bearer {token}"}
            if content_type:
                headers["Content-Type"] = content_type
            try:
                self.stats["requests"] += 1
                response = await self.http.request(
                    method, path, params=params, json=json_body, content=content, headers=headers
                )
            except httpx.HTTPError as exc:
                if attempt + 1 == self.attempts:
                    raise ConnectionLost(f"{method} {path}: {exc.__class__.__name__}") from exc
                self.stats["retries"] += 1
                await self.bucket_pause(self._delay(attempt, None), throttle=False)
                continue
            status = response.status_code
            if status < 300:
                return response
            body = parse_body(response.content)
            retry_after = _retry_after(response.headers.get("retry-after"))
            if status == 401 and not refreshed:
                stale, refreshed = token, True
                continue
            retryable = is_rate_limited(status, body) or status >= 500
            if not retryable or attempt + 1 == self.attempts:
                raise error_for(
                    status, response.content, f"{method} {path}", retry_after=retry_after
                )
            self.stats["retries"] += 1
            await self.bucket_pause(
                self._delay(attempt, retry_after), throttle=is_rate_limited(status, body)
            )
        raise ConnectionLost(f"{method} {path}: gave up")  # not reached: the loop raises

    async def bucket_pause(self, seconds: float, *, throttle: bool) -> None:
        """Wait before a retry; a throttle also holds back every other call of this user."""
        if throttle:
            self.stats["throttled"] += 1
            self.bucket.pause(seconds)
            await self.bucket.acquire(0)
        else:
            await asyncio.sleep(seconds)

    async def call(self, name: str, method: str, path: str, **kwargs: Any) -> Json:
        response = await self.send(method, ME + path, units=UNITS[name], **kwargs)
        return parse_body(response.content)

    # --- reading --------------------------------------------------------------------------------

    async def profile(self) -> Json:
        return await self.call("getProfile", "GET", "/profile")

    async def labels(self) -> list[Json]:
        return list((await self.call("labels.list", "GET", "/labels")).get("labels", []))

    async def list_messages(
        self,
        page_token: str | None = None,
        *,
        label: str | None = None,
        max_results: int = 500,
        include_spam_trash: bool = True,
    ) -> Json:
        params: dict[str, Any] = {"maxResults": max_results}
        if include_spam_trash:
            params["includeSpamTrash"] = "true"
        if label:
            params["labelIds"] = label
        if page_token:
            params["pageToken"] = page_token
        return await self.call("messages.list", "GET", "/messages", params=params)

    async def history(self, start: int, page_token: str | None = None) -> Json:
        params: dict[str, Any] = {"startHistoryId": str(start), "maxResults": 500}
        if page_token:
            params["pageToken"] = page_token
        return await self.call("history.list", "GET", "/history", params=params)

    async def get_message(self, message_id: str, fmt: str = "raw") -> Json:
        return await self.call(
            "messages.get", "GET", f"/messages/{message_id}", params={"format": fmt}
        )

    async def get_many(self, ids: Sequence[str], fmt: str = "raw") -> list[Json | ProviderError]:
        """Messages by id in batches of at most 50; each answer is the message or its error.

        Parts refused for quota or a server error are asked again (alone in a smaller batch) with
        the same backoff as single calls; other failures are returned for the caller to record.
        """
        results: dict[int, Json | ProviderError] = {}
        pending = list(range(len(ids)))
        for attempt in range(self.attempts):
            if not pending:
                break
            retry: list[int] = []
            for start in range(0, len(pending), batching.MAX_BATCH):
                chunk = pending[start : start + batching.MAX_BATCH]
                calls = [
                    batching.Call("GET", f"{ME}/messages/{ids[i]}?{urlencode({'format': fmt})}")
                    for i in chunk
                ]
                answers = await self._batch(calls, UNITS["messages.get"])
                throttled = False
                for i, answer in zip(chunk, answers, strict=True):
                    if answer is None:
                        retry.append(i)
                        continue
                    body = parse_body(answer.body)
                    if answer.status < 300:
                        results[i] = body
                    elif is_rate_limited(answer.status, body) or answer.status >= 500:
                        throttled = throttled or is_rate_limited(answer.status, body)
                        retry.append(i)
                        results[i] = error_for(answer.status, answer.body, f"get {ids[i]}")
                    else:
                        results[i] = error_for(answer.status, answer.body, f"get {ids[i]}")
                if throttled:
                    await self.bucket_pause(self._delay(attempt, None), throttle=True)
            pending = retry
            if pending:
                self.stats["retries"] += len(pending)
        out: list[Json | ProviderError] = []
        for i, mid in enumerate(ids):
            out.append(results.get(i) or ConnectionLost(f"get {mid}: no answer in the batch"))
        return out

    async def _batch(
        self, calls: list[batching.Call], units_each: int
    ) -> list[batching.Answer | None]:
        content_type, body = batching.encode(calls)
        response = await self.send(
            "POST",
            "/batch/gmail/v1",
            units=units_each * len(calls),
            content=body,
            content_type=content_type,
        )
        try:
            return batching.decode(
                response.headers.get("content-type", ""), response.content, len(calls)
            )
        except ValueError as exc:
            raise ConnectionLost(f"batch answer unreadable: {exc}") from exc

    # --- writing --------------------------------------------------------------------------------

    async def modify(self, message_id: str, add: Sequence[str], remove: Sequence[str]) -> Json:
        body = {"addLabelIds": list(add), "removeLabelIds": list(remove)}
        return await self.call(
            "messages.modify", "POST", f"/messages/{message_id}/modify", json_body=body
        )

    async def batch_modify(
        self, ids: Sequence[str], add: Sequence[str], remove: Sequence[str]
    ) -> None:
        for start in range(0, len(ids), 1000):  # batchModify takes up to 1,000 ids
            body = {
                "ids": list(ids[start : start + 1000]),
                "addLabelIds": list(add),
                "removeLabelIds": list(remove),
            }
            await self.call("messages.batchModify", "POST", "/messages/batchModify", json_body=body)

    async def trash(self, message_id: str) -> Json:
        return await self.call("messages.trash", "POST", f"/messages/{message_id}/trash")

    async def untrash(self, message_id: str) -> Json:
        return await self.call("messages.untrash", "POST", f"/messages/{message_id}/untrash")

    async def delete(self, message_id: str) -> None:
        await self.call("messages.delete", "DELETE", f"/messages/{message_id}")

    async def create_label(self, body: Json) -> Json:
        return await self.call("labels.create", "POST", "/labels", json_body=body)

    async def patch_label(self, label_id: str, body: Json) -> Json:
        return await self.call("labels.patch", "PATCH", f"/labels/{label_id}", json_body=body)

    async def delete_label(self, label_id: str) -> None:
        await self.call("labels.delete", "DELETE", f"/labels/{label_id}")

    async def send_raw(self, raw: bytes, thread_id: str | None = None) -> Json:
        """``messages.send``: JSON with base64url ``raw`` up to 5 MB, a multipart upload above."""
        if len(raw) > MAX_SEND:
            raise error_for(413, b"", f"message of {len(raw)} bytes is over Gmail's 35 MB")
        if len(raw) <= SIMPLE_UPLOAD_LIMIT:
            body: Json = {"raw": base64.urlsafe_b64encode(raw).decode()}
            if thread_id:
                body["threadId"] = thread_id
            return await self.call("messages.send", "POST", "/messages/send", json_body=body)
        meta = json.dumps({"threadId": thread_id} if thread_id else {}).encode()
        boundary = "upload_" + random.randbytes(12).hex()
        content = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode()
            + meta
            + f"\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n".encode()
            + raw
            + f"\r\n--{boundary}--\r\n".encode()
        )
        response = await self.send(
            "POST",
            f"/upload{ME}/messages/send",
            units=UNITS["messages.send"],
            params={"uploadType": "multipart"},
            content=content,
            content_type=f"multipart/related; boundary={boundary}",
        )
        return parse_body(response.content)

    async def create_draft(self, raw: bytes, thread_id: str | None = None) -> Json:
        return await self.call("drafts.create", "POST", "/drafts", json_body=_draft(raw, thread_id))

    async def update_draft(self, draft_id: str, raw: bytes, thread_id: str | None = None) -> Json:
        body = {"id": draft_id, **_draft(raw, thread_id)}
        return await self.call("drafts.update", "PUT", f"/drafts/{draft_id}", json_body=body)

    async def send_draft(self, draft_id: str) -> Json:
        return await self.call("drafts.send", "POST", "/drafts/send", json_body={"id": draft_id})

    async def delete_draft(self, draft_id: str) -> None:
        await self.call("drafts.delete", "DELETE", f"/drafts/{draft_id}")


def _draft(raw: bytes, thread_id: str | None) -> Json:
    message: Json = {"raw": base64.urlsafe_b64encode(raw).decode()}
    if thread_id:
        message["threadId"] = thread_id
    return {"message": message}


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
