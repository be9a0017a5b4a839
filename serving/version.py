"""A published version as serving holds it in memory: its manifest, items and small lists.

Built once per version from ``VersionBlobs`` (immutable in Redis), so a request only reads the
per-user data. Item attributes are kept as Python lists: requests look up a handful of items,
where list indexing beats numpy scalar access.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from recommender.config import RealtimeConfig, RulesConfig, SlotConfig
from recommender.lists import RankedList, empty_list
from recommender.rules import SlotClock
from storage.codec import decode_list, read_list
from storage.keys import ANY_SLOT, VersionKeys, bucket_of, popular_field
from storage.live import incomplete
from storage.manifest import Manifest
from storage.reader import VersionBlobs

DECODED_NEIGHBOURS = 8192
"""Decoded similar-item lists a version keeps (about 0.6 KB each at the default depth 30); the
cache starts over when full."""


@dataclass(frozen=True)
class VersionView:
    """The in-memory side of one published version."""

    name: str
    version: str
    namespace: str
    keys: VersionKeys
    manifest: Manifest
    clock: SlotClock
    repeatable_categories: frozenset[str]
    categories: frozenset[str]
    user_buckets: int
    item_buckets: int
    kinds: frozenset[str]
    slot_lists: dict[str, frozenset[str]]
    item_ids: list[str]
    index_of: dict[str, int]
    kind_of: list[str]
    category_of: list[str]
    repeatable: list[bool]
    slot_member: dict[str, np.ndarray]
    slot_flags: dict[str, list[bool]]
    popular: dict[str, RankedList]
    new_items: dict[str, RankedList]
    new_item_ids: dict[str, list[int]]
    similar_of: dict[int, bytes]
    """Item index -> its encoded similar-items list (real time; empty when it is off)."""
    title_of: list[str | None]
    """Item index -> its catalog title (``None``: the catalog has none)."""
    decoded: dict[int, tuple[array[int], array[float]]] = field(default_factory=dict)
    """``neighbours``' cache: at most ``DECODED_NEIGHBOURS`` decoded lists."""

    @property
    def model(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}

    def user_bucket(self, user_id: str) -> int:
        return bucket_of(user_id, self.user_buckets)

    def item_bucket(self, item_id: str) -> int:
        return bucket_of(item_id, self.item_buckets)

    def popular_list(self, kind: str, slot: SlotConfig | None) -> RankedList:
        """The popular list of ``kind`` for the active slot (or any time); empty if none."""
        found = self.popular.get(popular_field(kind, slot.name if slot else ANY_SLOT))
        if found is None:
            found = self.popular.get(popular_field(kind))
        return found if found is not None else empty_list()

    def with_titles(self, items: list[dict[str, object]]) -> list[dict[str, object]]:
        """``items`` (response items, each with ``item_id``) given their catalog ``title``
        where the catalog has one (changed in place)."""
        titles, index_of = self.title_of, self.index_of
        for item in items:
            title = titles[index_of[item["item_id"]]]  # type: ignore[index]
            if title is not None:
                item["title"] = title
        return items

    def neighbours(self, item: int) -> tuple[array[int], array[float]] | None:
        """``item``'s first ``session_depth`` similar items and scores (``realtime.Neighbours``),
        decoded once into compact arrays (``recommender._realtime`` reads them without a
        Python object per entry) and kept in a bounded cache: a session reads five lists a
        request, and decoding one costs about 3 µs."""
        found = self.decoded.get(item)
        if found is None:
            blob = self.similar_of.get(item)
            if blob is None:
                return None
            if len(self.decoded) >= DECODED_NEIGHBOURS:
                self.decoded.clear()
            depth = self.manifest.realtime.session_depth
            ranked = read_list(blob)
            lo, step = ranked.lo, ranked.step
            found = self.decoded[item] = (
                array("l", ranked.items[:depth]),
                array("d", [lo + level * step for level in ranked.levels[:depth]]))
        return found

    def indices(self, item_ids: list[str]) -> list[int]:
        """Indices of the known ids among ``item_ids`` (unknown ones are skipped)."""
        index_of = self.index_of
        return [index_of[i] for i in item_ids if i in index_of]

    @property
    def rules(self) -> RulesConfig:
        return self.manifest.rules

    @property
    def realtime(self) -> RealtimeConfig:
        return self.manifest.realtime

    @classmethod
    def from_blobs(cls, namespace: str, keys: VersionKeys, blobs: VersionBlobs) -> VersionView:
        manifest = blobs.manifest
        if manifest is None or blobs.items is None:
            raise incomplete(namespace)
        rules = manifest.rules
        table = pa.ipc.open_stream(blobs.items).read_all()
        new_items = {k.decode(): decode_list(v) for k, v in blobs.new_items.items()}
        categories = table.column("category").to_pylist()
        repeatable = frozenset(rules.repeatable_categories)
        item_ids = table.column("item_id").to_pylist()
        index_of = {item: i for i, item in enumerate(item_ids)}
        slot_member = {
            slot.name: table.column(f"slot:{slot.name}").to_numpy(zero_copy_only=False)
            for slot in rules.slots
        }
        return cls(
            name=manifest.name,
            version=manifest.version,
            namespace=namespace,
            keys=keys,
            manifest=manifest,
            clock=SlotClock(rules),
            repeatable_categories=repeatable,
            categories=frozenset(manifest.categories),
            user_buckets=manifest.user_buckets,
            item_buckets=manifest.item_buckets,
            kinds=frozenset(manifest.kinds),
            slot_lists={kind: frozenset(s) for kind, s in manifest.slot_lists.items()},
            item_ids=item_ids,
            index_of=index_of,
            kind_of=table.column("kind").to_pylist(),
            category_of=categories,
            repeatable=[category in repeatable for category in categories],
            slot_member=slot_member,
            slot_flags={name: mask.tolist() for name, mask in slot_member.items()},
            popular={k.decode(): decode_list(v) for k, v in blobs.popular.items()},
            new_items=new_items,
            new_item_ids={name: ranked.items.tolist() for name, ranked in new_items.items()},
            similar_of={index_of[item.decode()]: blob for item, blob in blobs.similar.items()
                        if item.decode() in index_of},
            title_of=[title or None for title in table.column("title").to_pylist()],
        )
