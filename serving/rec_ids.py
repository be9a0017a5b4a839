"""Recommendation ids: one per response, echoed back by events for attribution."""

from __future__ import annotations

import secrets


def new_rec_id(user_id: str | None = None, model: str = "", version: str = "") -> str:
    """A fresh id for one response (32 hex characters).

    Random for now; the A/B work will sign it with the experiment and variant, which is why the
    user and model travel with the call.
    """
    return secrets.token_hex(16)
