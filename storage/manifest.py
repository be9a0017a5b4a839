"""The version manifest: one typed record, written by ``publish`` as a version's ``meta`` key and
read by serving, push plans and experiments (``docs/redis-layout.md``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recommender.config import (
    EventsConfig,
    PushConfig,
    RealtimeConfig,
    RulesConfig,
    ServingConfig,
)
from storage.keys import ANY_SLOT

FORMAT = 2
"""Format 2: hash-tagged keys (Redis Cluster); format 1 versions must be published again."""


class Manifest(BaseModel):
    """What a published version is: its model, sizes, buckets, lists and the rules it was
    published with."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format: int = FORMAT
    name: str
    version: str
    namespace: str
    published_at: datetime
    algorithm: str
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    """The version's offline test metrics as registered (``ndcg@10``, ...); empty if unknown."""
    top_n: int
    users: int
    items: int
    model_items: int
    user_buckets: int
    item_buckets: int
    kinds: list[str]
    slot_lists: dict[str, list[str]]
    """Kind -> the slots with per-user slot lists."""
    any_slot: str = ANY_SLOT
    categories: list[str]
    """Category code (as in profiles) -> name."""
    rules: RulesConfig
    push: PushConfig
    events: EventsConfig
    serving: ServingConfig
    realtime: RealtimeConfig = Field(default_factory=RealtimeConfig)
    session_lists: bool = False
    """Whether the session ranking starts from the version's ``session`` lists (an item-KNN's,
    for a model whose similar items are not co-occurrence) rather than its ``similar`` ones."""
    """What live events change at once (``recommender.realtime``); versions published before
    it get the defaults."""

    def to_bytes(self) -> bytes:
        # the Redis URL may hold a password: never written into Redis
        return self.model_dump_json(exclude={"serving": {"redis_url"}}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> Manifest:
        return cls.model_validate_json(raw)
