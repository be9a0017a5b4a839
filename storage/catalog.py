"""The catalog of a published version: item id -> kind, category, title (``Catalog``).

Publish already writes it: the version's ``items`` key (``VersionKeys.items``, an Arrow IPC
stream, row ``i`` = item index ``i``) holds ``item_id``, ``kind``, ``category``, ``title``,
``tags``, ``available`` and ``created_at`` for every item of the version. ``read_catalog`` reads
it in one ``GET``; a version's keys never change, so a reader keeps one ``Catalog`` per
namespace (``CatalogCache``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from storage.live import incomplete
from storage.reader import Store

MAX_RESULTS = 100
"""The most items one ``search`` returns."""


@dataclass(frozen=True)
class CatalogItem:
    """One item of a published catalog."""

    item_id: str
    kind: str
    category: str
    title: str | None
    available: bool
    """As published (``Keys.unavailable`` withdraws items since)."""


class Catalog:
    """Item attributes by id, and a search by id or title."""

    def __init__(self, items: Iterable[CatalogItem]) -> None:
        self.items = list(items)
        self._index = {item.item_id: i for i, item in enumerate(self.items)}
        self._folded = [(item.item_id.casefold(), (item.title or "").casefold())
                        for item in self.items]

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def from_arrow(cls, blob: bytes) -> Catalog:
        """The catalog of a version's ``items`` table."""
        table = pa.ipc.open_stream(blob).read_all()
        columns = {name: table.column(name).to_pylist()
                   for name in ("item_id", "kind", "category", "title", "available")
                   if name in table.column_names}
        n = table.num_rows
        titles = columns.get("title", [None] * n)
        available = columns.get("available", [True] * n)
        return cls(CatalogItem(item_id, kind, category or "", title or None,
                               bool(True if flag is None else flag))
                   for item_id, kind, category, title, flag in zip(
                       columns["item_id"], columns["kind"], columns["category"], titles,
                       available, strict=True))

    def get(self, item_id: str) -> CatalogItem | None:
        index = self._index.get(item_id)
        return None if index is None else self.items[index]

    def title(self, item_id: str) -> str | None:
        item = self.get(item_id)
        return None if item is None else item.title

    def search(self, query: str, limit: int = 20) -> list[CatalogItem]:
        """Items whose id or title contains ``query`` (case-insensitive): the exact id first,
        then ids starting with it, then the others in catalog order; at most ``limit``
        (capped at ``MAX_RESULTS``)."""
        limit = max(1, min(limit, MAX_RESULTS))
        needle = query.strip().casefold()
        if not needle:
            return self.items[:limit]
        exact, prefix, inside = [], [], []
        for i, (item_id, title) in enumerate(self._folded):
            if item_id == needle:
                exact.append(i)
            elif item_id.startswith(needle):
                prefix.append(i)
            elif needle in item_id or needle in title:
                inside.append(i)
            if len(exact) + len(prefix) >= limit:
                break
        return [self.items[i] for i in [*exact, *prefix, *inside][:limit]]


async def read_catalog(store: Store, namespace: str) -> Catalog:
    """The catalog of the version ``namespace`` (``NoLiveModel`` when it is gone)."""
    (blob,) = await store.pipeline(lambda pipe: pipe.get(store.keys.version(namespace).items()))
    if blob is None:
        raise incomplete(namespace)
    return Catalog.from_arrow(blob)


class CatalogCache:
    """The catalogs of the last few namespaces read (a version's items never change)."""

    def __init__(self, store: Store, size: int = 4) -> None:
        self.store = store
        self.size = size
        self._catalogs: dict[str, Catalog] = {}

    async def get(self, namespace: str) -> Catalog:
        found = self._catalogs.get(namespace)
        if found is None:
            found = await read_catalog(self.store, namespace)
            while len(self._catalogs) >= self.size:
                self._catalogs.pop(next(iter(self._catalogs)))
            self._catalogs[namespace] = found
        return found
