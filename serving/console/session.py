"""The console's session: a signed, httpOnly, SameSite=Strict cookie, and the admin check that
accepts it besides the admin key.

The cookie holds ``base64url(JSON {"k", "e", "c"}) "." base64url(HMAC-SHA256)``: ``k`` names
the admin key signed in with (a hash of it, so that removing the key from
``RECSYS_ADMIN_KEYS`` ends its sessions), ``e`` the expiry (epoch seconds), ``c`` the session's
CSRF token. The HMAC key is derived from ``RECSYS_SECRET``, else from the secret kept in Redis
(``Keys.secret``, the one that signs ``rec_id``s), so every worker accepts every session.

State-changing requests (anything but GET/HEAD/OPTIONS) made with the cookie must carry the
session's CSRF token in ``X-CSRF-Token`` (pages get it in a ``<meta>`` tag): a cross-site page
can neither read it nor, with SameSite=Strict, send the cookie. A request with an admin key in
``X-API-Key`` needs no token (it carries no ambient credential).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader

from serving.api.routes.admin import Forbidden, require_admin_key
from serving.deps import API_KEY_HEADER, key_matches
from serving.errors import Unauthorized
from serving.settings import ServingSettings
from storage.reader import Store

COOKIE = "recsys_console"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SECRET_BYTES = 32


class CsrfFailed(Forbidden):
    code = "csrf_failed"


@dataclass(frozen=True)
class Session:
    """A signed-in operator: which admin key (hashed), until when, and the CSRF token."""

    key_id: str
    expires: int
    csrf: str


def key_id(admin_key: str) -> str:
    """A short, non-reversible name of an admin key."""
    return hashlib.sha256(b"recsys-console\0" + admin_key.encode()).hexdigest()[:24]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs and verifies session cookies with one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def issue(self, admin_key: str, now: float | None = None) -> tuple[str, Session]:
        session = Session(key_id(admin_key), int((now or time.time()) + SESSION_SECONDS),
                          secrets.token_urlsafe(24))
        body = _b64(orjson.dumps({"k": session.key_id, "e": session.expires, "c": session.csrf}))
        return f"{body}.{self._mac(body)}", session

    def verify(self, cookie: str, admin_keys: Sequence[bytes],
               now: float | None = None) -> Session | None:
        """The session of a genuine, unexpired cookie of a configured admin key, else ``None``."""
        body, _, mac = cookie.partition(".")
        if not body or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            data = orjson.loads(_unb64(body))
            session = Session(str(data["k"]), int(data["e"]), str(data["c"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (now or time.time()):
            return None
        known = {key_id(key.decode()) for key in admin_keys}
        return session if session.key_id in known else None


async def load_session_signer(store: Store, settings: ServingSettings) -> SessionSigner:
    """The signer of ``RECSYS_SECRET``, else of the secret kept in Redis (created once)."""
    if settings.secret is not None:
        secret = settings.secret.get_secret_value().encode()
    else:
        key = store.keys.secret()
        _, secret = await store.pipeline(lambda pipe: (
            pipe.set(key, secrets.token_bytes(_SECRET_BYTES), nx=True), pipe.get(key)))
    return SessionSigner(hmac.new(secret, b"recsys console session", hashlib.sha256).digest())


async def signer_of(request: Request) -> SessionSigner:
    """The app's session signer (loaded on first use)."""
    state = request.app.state
    signer: SessionSigner | None = getattr(state, "console_signer", None)
    if signer is None:
        signer = state.console_signer = await load_session_signer(state.store, state.settings)
    return signer


async def session_of(request: Request) -> Session | None:
    """The request's valid console session, if any."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    return (await signer_of(request)).verify(cookie, request.app.state.admin_keys)


def check_csrf(request: Request, session: Session) -> None:
    """403 ``csrf_failed`` unless a state-changing request carries the session's token."""
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise CsrfFailed(f"missing or wrong {CSRF_HEADER} header: reload the console page")


_admin_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="AdminKey",
                          description="One of the keys in RECSYS_ADMIN_KEYS (comma-separated).")
_session_cookie = APIKeyCookie(name=COOKIE, auto_error=False, scheme_name="ConsoleSession",
                               description="The console's session cookie (sign in at /console); "
                               f"state-changing requests also need `{CSRF_HEADER}`.")


async def require_admin(
    request: Request,
    api_key: Annotated[str | None, Security(_admin_key)],
    cookie: Annotated[str | None, Security(_session_cookie)],
) -> None:
    """An admin key in ``X-API-Key`` (as ``require_admin_key``: 401 unknown, 403 an API key),
    or a console session (and its CSRF token on state-changing requests)."""
    if api_key:
        await require_admin_key(request, api_key)
        return
    session = await session_of(request) if cookie else None
    if session is None:
        if cookie:
            raise Unauthorized("console session expired or invalid: sign in again at /console")
        raise Unauthorized(f"missing {API_KEY_HEADER} header")
    check_csrf(request, session)


def is_admin_key(request: Request, given: str) -> bool:
    return key_matches(given, request.app.state.admin_keys)
