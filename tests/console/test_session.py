"""The console's session cookie: signed, expiring, bound to a configured admin key."""

from __future__ import annotations

from serving.console.session import SESSION_SECONDS, SessionSigner

KEYS = [b"admin-1", b"admin-2"]
NOW = 1_800_000_000.0


def test_a_cookie_verifies_until_it_expires() -> None:
    signer = SessionSigner(b"k" * 32)
    cookie, session = signer.issue("admin-1", now=NOW)
    assert signer.verify(cookie, KEYS, now=NOW + 60) == session
    assert signer.verify(cookie, KEYS, now=NOW + SESSION_SECONDS + 1) is None


def test_a_tampered_or_foreign_cookie_is_refused() -> None:
    signer = SessionSigner(b"k" * 32)
    cookie, _ = signer.issue("admin-1", now=NOW)
    body, mac = cookie.split(".")
    assert signer.verify(f"{body}x.{mac}", KEYS, now=NOW) is None
    assert signer.verify(f"{body}.{mac[:-2]}AA", KEYS, now=NOW) is None
    assert signer.verify("garbage", KEYS, now=NOW) is None
    assert SessionSigner(b"o" * 32).verify(cookie, KEYS, now=NOW) is None


def test_removing_the_admin_key_ends_its_sessions() -> None:
    signer = SessionSigner(b"k" * 32)
    cookie, _ = signer.issue("admin-1", now=NOW)
    assert signer.verify(cookie, [b"admin-2"], now=NOW) is None


def test_each_session_has_its_own_csrf_token() -> None:
    signer = SessionSigner(b"k" * 32)
    first, second = signer.issue("admin-1", now=NOW)[1], signer.issue("admin-1", now=NOW)[1]
    assert first.csrf != second.csrf and len(first.csrf) >= 32
