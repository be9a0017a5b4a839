"""Push state in Redis: what a push decision reads about a user, and recording a push.

``GET /v1/users/{id}/push`` (async) and ``recsys push plan`` (sync, pipelined per batch of users)
queue the same reads with ``queue_read``. Reading records nothing: ``POST /v1/users/{id}/push``
(a push that was sent) and ``push plan`` (without a dry run) record with ``RECORD_PUSH``
(``storage.scripts``), which re-checks the daily cap and the no-repeat rule atomically, so
concurrent callers can never exceed them. A user's counter and pushed-items set share the user's
hash slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from recommender.config import PushConfig
from recommender.push import DAY_SECONDS, UserState, no_repeat_cutoff, pushed_ttl_seconds
from storage.keys import Keys
from storage.scripts import RECORD_PUSH

COUNT_TTL_SECONDS = 2 * DAY_SECONDS
"""The daily counter outlives its local date by a day, whatever the time zone."""
RECORDED, CAPPED, REPEATED = 1, 0, -1
"""What ``RECORD_PUSH`` returns."""
READS = 3
"""Commands ``queue_read`` queues per user."""


def queue_read(pipe: Any, keys: Keys, user_id: str, day: str, cutoff: float) -> None:
    """Queue on ``pipe`` (sync or async, one node or a cluster) the reads of ``parse_read``:
    the user's purchases, the items pushed since ``cutoff`` (with when) and the count of
    ``day``."""
    pipe.zrange(keys.purchased(user_id), 0, -1)
    pipe.zrangebyscore(keys.pushed(user_id), f"({cutoff}", "+inf", withscores=True)
    pipe.get(keys.push_count(user_id, day))


def parse_read(replies: Sequence[Any]) -> UserState:
    """The ``READS`` replies of ``queue_read`` as a ``UserState``."""
    purchased, recent, count = replies
    return UserState(purchased=frozenset(m.decode() for m in purchased),
                     recent=frozenset(m.decode() for m, _ in recent), sent_today=int(count or 0))


def recorded_at(replies: Sequence[Any], at: datetime) -> list[str]:
    """The items of the ``READS`` replies of ``queue_read`` recorded as pushed exactly at
    ``at`` (to the second, as ``record_call`` stores it)."""
    second = int(at.timestamp())
    return [member.decode() for member, when in replies[1] if int(when) == second]


def record_call(keys: Keys, user_id: str, day: str, at: datetime, push: PushConfig,
                items: Sequence[str]) -> tuple[list[str], list[Any]]:
    """The keys and arguments of ``RECORD_PUSH`` that record pushing ``items`` at ``at``."""
    args = [push.max_per_user_per_day, COUNT_TTL_SECONDS, pushed_ttl_seconds(push),
            int(at.timestamp()), int(no_repeat_cutoff(at, push)), *items]
    return [keys.push_count(user_id, day), keys.pushed(user_id)], args


def queue_record(pipe: Any, keys: Keys, user_id: str, day: str, at: datetime,
                 push: PushConfig, items: Sequence[str]) -> None:
    """Queue a ``record_call`` on ``pipe`` (``EVALSHA``: load ``RECORD_PUSH`` first)."""
    names, args = record_call(keys, user_id, day, at, push, items)
    pipe.execute_command("EVALSHA", RECORD_PUSH.sha, len(names), *names, *args)  # the method
    # is refused on a cluster pipeline; the command itself is routed by its keys


def day_key(day: Any) -> str:
    """The local date as used in counter keys (YYYY-MM-DD)."""
    return str(day.isoformat())
