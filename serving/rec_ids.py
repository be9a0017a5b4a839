"""Recommendation ids: one per response, echoed back by events for A/B attribution.

A recommendations response carries a **signed, self-describing** ``rec_id``: nothing is stored per
response, yet an event that echoes it can be attributed to the experiment and variant that served
it, and a client cannot forge or alter one. It is the URL-safe base64 (no padding) of::

    byte 0        format (1)
    bytes 1-4     issue time, epoch seconds (uint32, big-endian)
    bytes 5-8     random (two responses in the same second differ)
    bytes 9-12    first 4 bytes of BLAKE2b(user_id): an event of another user does not match
    then          experiment, variant, model name, model version: each a uint8 length and UTF-8
    last 12       HMAC-SHA256 of all the bytes before, truncated to 12 bytes (96 bits)

About 76 characters for ``als-vs-bpr``/``treatment``/``products``/``7``. ``RecIdSigner.verify``
gives the payload back, or why it is not attributable: ``forged`` (altered, truncated, signed
with another key), ``expired`` (issued longer ago than the attribution window), ``other_user``.
Plain 32-hex ids (``new_rec_id``: similar items, popular lists, pushes, ``recsys push plan``) are
``unsigned``: never attributed, and not counted as forged.

The key is the SHA-256 of ``RECSYS_SECRET`` (at least 32 characters, ``serving.settings``);
without it, a random key is created once under
``{prefix}secret`` (``SET NX``), so every worker and restart signs with the same one.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import random
import re
import secrets
import struct
import time
from dataclasses import dataclass
from enum import StrEnum

from serving.settings import ServingSettings
from storage.reader import Store

FORMAT = 1
TAG_BYTES = 12
SECRET_BYTES = 32
_HEAD = struct.Struct(">BI4s4s")
_UNSIGNED = re.compile(r"^[0-9a-f]{32}$")


class Rejection(StrEnum):
    """Why an event's ``rec_id`` is not attributed."""

    FORGED = "forged"
    EXPIRED = "expired"
    OTHER_USER = "other_user"
    UNSIGNED = "unsigned"


@dataclass(frozen=True)
class RecId:
    """What a signed ``rec_id`` says; ``experiment`` and ``variant`` are ``""`` outside one."""

    issued: int
    experiment: str
    variant: str
    model: str
    version: str


def new_rec_id(user_id: str | None = None, model: str = "", version: str = "") -> str:
    """A plain random id (32 hex characters) for responses outside A/B tests."""
    return secrets.token_hex(16)


def _user_tag(user_id: str) -> bytes:
    return hashlib.blake2b(user_id.encode("utf-8"), digest_size=4).digest()


@functools.lru_cache(maxsize=256)
def _tail(experiment: str, variant: str, model: str, version: str) -> bytes:
    """The fields after the head, encoded (the same for every response of a version/arm)."""
    return b"".join(map(_text, (experiment, variant, model, version)))


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"rec_id field longer than 255 bytes: {value[:40]!r}...")
    return bytes([len(raw)]) + raw


class RecIdSigner:
    """Issues and verifies signed ``rec_id``s with one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the rec_id key must be at least 16 bytes")
        self._keyed = hmac.new(key, digestmod="sha256")  # keyed once; copied per tag

    def _tag(self, body: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(body)
        return mac.digest()[:TAG_BYTES]

    def issue(
        self,
        user_id: str,
        model: str,
        version: str,
        experiment: str | None = None,
        variant: str | None = None,
        now: float | None = None,
    ) -> str:
        """The ``rec_id`` of one response to ``user_id``."""
        issued = int(time.time() if now is None else now)
        nonce = random.getrandbits(32).to_bytes(4, "little")  # unique, not secret: no syscall
        body = _HEAD.pack(FORMAT, issued, nonce, _user_tag(user_id)) + _tail(
            experiment or "", variant or "", model, version)
        return base64.urlsafe_b64encode(body + self._tag(body)).rstrip(b"=").decode("ascii")

    def verify(
        self, rec_id: str, user_id: str, now: float, window_seconds: float
    ) -> RecId | Rejection:
        """The payload of ``rec_id`` if it is genuine, ``user_id``'s and within the window."""
        if _UNSIGNED.match(rec_id):
            return Rejection.UNSIGNED
        try:
            raw = base64.urlsafe_b64decode(rec_id + "=" * (-len(rec_id) % 4))
        except (binascii.Error, ValueError):
            return Rejection.FORGED
        body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        if len(body) < _HEAD.size or not hmac.compare_digest(tag, self._tag(body)):
            return Rejection.FORGED
        fmt, issued, _, user_tag = _HEAD.unpack_from(body)
        fields = _fields(body[_HEAD.size :])
        if fmt != FORMAT or fields is None:  # signed by us, so only a future format gets here
            return Rejection.FORGED
        if user_tag != _user_tag(user_id):
            return Rejection.OTHER_USER
        if now - issued > window_seconds:
            return Rejection.EXPIRED
        return RecId(issued, *fields)


def _fields(raw: bytes) -> tuple[str, str, str, str] | None:
    """The four length-prefixed strings of a payload, or ``None`` if it does not hold them."""
    out: list[str] = []
    position = 0
    for _ in range(4):
        if position >= len(raw):
            return None
        size = raw[position]
        out.append(raw[position + 1 : position + 1 + size].decode("utf-8", "replace"))
        position += 1 + size
    if position != len(raw):
        return None
    return out[0], out[1], out[2], out[3]


async def load_signer(store: Store, settings: ServingSettings) -> RecIdSigner:
    """The signer of ``RECSYS_SECRET``, else of the key kept in Redis (created on first use)."""
    if settings.secret is not None:
        return RecIdSigner(hashlib.sha256(settings.secret.get_secret_value().encode()).digest())
    key = store.keys.secret()
    _, secret = await store.pipeline(lambda pipe: (
        pipe.set(key, secrets.token_bytes(SECRET_BYTES), nx=True),
        pipe.get(key)))  # ours, or the one another worker created first
    return RecIdSigner(secret)
