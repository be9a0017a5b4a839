"""The catalog a published version carries (``storage.catalog``)."""

from __future__ import annotations

import pyarrow as pa

from storage.catalog import MAX_RESULTS, Catalog, CatalogItem


def arrow(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return bytes(sink.getvalue())


CATALOG = Catalog.from_arrow(arrow(pa.table({
    "item_id": ["p1", "p10", "x-p1", "c1"],
    "kind": ["product", "product", "product", "content"],
    "category": ["breakfast", "lunch", "snacks", "articles"],
    "title": ["Soy milk", None, "Youtiao P1 combo", "豆浆的做法"],
    "available": [True, True, False, True],
})))


def test_items_keep_their_attributes() -> None:
    assert CATALOG.get("p1") == CatalogItem("p1", "product", "breakfast", "Soy milk", True)
    assert CATALOG.get("x-p1") == CatalogItem("x-p1", "product", "snacks", "Youtiao P1 combo",
                                             False)
    assert CATALOG.title("p10") is None and CATALOG.get("nope") is None
    assert len(CATALOG) == 4


def test_search_puts_the_exact_id_first_then_prefixes_then_the_rest() -> None:
    assert [i.item_id for i in CATALOG.search("P1")] == ["p1", "p10", "x-p1"]
    assert [i.item_id for i in CATALOG.search("豆浆")] == ["c1"]
    assert [i.item_id for i in CATALOG.search("soy")] == ["p1"]


def test_search_is_bounded() -> None:
    assert len(CATALOG.search("", limit=2)) == 2
    big = Catalog(CatalogItem(f"p{i}", "product", "c", None, True) for i in range(500))
    assert len(big.search("p", limit=10_000)) == MAX_RESULTS
