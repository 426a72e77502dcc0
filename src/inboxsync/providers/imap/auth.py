"""Authentication: LOGIN, AUTHENTICATE PLAIN and XOAUTH2 (with SASL-IR where offered)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json

from inboxsync.errors import AuthError, ConnectionLost
from inboxsync.providers.imap.commands import Arg, quote
from inboxsync.providers.imap.fetching import FetchingConnection
from inboxsync.providers.imap.responses import Capability

__all__ = ["AuthConnection"]


class AuthConnection(FetchingConnection):
    async def capability(self) -> frozenset[str]:
        _, untagged = await self._simple("CAPABILITY", [])
        self._keep_unsolicited([r for r in untagged if not isinstance(r, Capability)])
        return self.capabilities

    async def _after_auth(self, had_code: bool) -> None:
        if not had_code:
            await self.capability()

    async def login(self, user: str, password: str) -> None:
        """LOGIN; AuthError if refused. The password is never logged nor kept."""
        if "LOGINDISABLED" in self.capabilities:
            raise AuthError("server disabled LOGIN (plaintext); use TLS")
        tagged, untagged = await self._simple(
            "LOGIN", [quote(user), _secret(password)], sensitive=True
        )
        self._keep_unsolicited(untagged)
        await self._after_auth(isinstance(tagged.code, Capability))

    async def authenticate_plain(self, user: str, password: str, authzid: str = "") -> None:
        raw = f"{authzid}\0{user}\0{password}".encode()
        await self._authenticate("PLAIN", raw)

    async def authenticate_xoauth2(self, user: str, access_token: str) -> None:
        raw = f"user={user}\x01auth=Bearer {access_token}\x01\x01".encode()
        await self._authenticate("XOAUTH2", raw)

    async def _authenticate(self, mechanism: str, initial: bytes) -> None:
        payload = base64.b64encode(initial)
        words: list[Arg] = [mechanism]
        if "SASL-IR" in self.capabilities:
            words.append(_secret(payload.decode()))
            payload = b""
        error_detail: dict[str, object] | None = None
        try:
            async with asyncio.timeout(self.timeout):
                tag = await self._send("AUTHENTICATE", words, sensitive=True)
                while tag not in self._done:
                    if self._continuations:
                        cont = self._continuations.popleft()
                        if payload:
                            await self._write(payload + b"\r\n")
                            payload = b""
                        else:  # a server challenge after our response is an error report (XOAUTH2)
                            error_detail = _decode_challenge(cont.text)
                            await self._write(b"\r\n")
                        continue
                    await self._step()
        except TimeoutError as exc:
            self._abort("timeout")
            raise ConnectionLost(f"AUTHENTICATE timed out after {self.timeout} s") from exc
        tagged = self._done.pop(tag)
        untagged = self._take_untagged()
        self._keep_unsolicited(untagged)
        if tagged.status != "OK":
            code = tagged.code.name if tagged.code is not None else None
            raise AuthError(
                f"AUTHENTICATE {mechanism} refused: {tagged.status} {tagged.text}",
                provider_error={"code": code, "text": tagged.text, "challenge": error_detail},
            )
        await self._after_auth(isinstance(tagged.code, Capability))


def _secret(value: str) -> Arg:
    """A password or token: quoted if it can be, else a literal; never logged (``sensitive``)."""
    return quote(value) if value else '""'


def _decode_challenge(text: bytes) -> dict[str, object] | None:
    try:
        decoded = json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None
